/* remote_hf.c: hf://datasets/OWNER/NAME[@REVISION]/PATH on the Hugging Face Hub.
 *
 * Files download from ENDPOINT/datasets/OWNER/NAME/resolve/REVISION/PATH (the Hub redirects large
 * files to its CDN; libcurl follows, and drops the Authorization header when the host changes).
 * Globs list ENDPOINT/api/datasets/OWNER/NAME/tree/REVISION/DIR (recursive=true when the pattern
 * spans directories): a JSON array of {"type": "file" | "directory", "path", "size", ...}, paged
 * with a Link: <...>; rel="next" header. DIR is the pattern's leading components without wildcards.
 * ENDPOINT is HF_ENDPOINT or https://huggingface.co; HF_TOKEN (or HUGGING_FACE_HUB_TOKEN) is sent
 * as a Bearer token. A revision holding '/' (refs/convert/parquet, refs/pr/1) is written as is or
 * percent-encoded.
 */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "remote.h"

static char *percent_decode(const char *s, size_t n)
{
    Buf b;
    buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (s[i] == '%' && i + 2 < n && sscanf(s + i + 1, "%2x", &v) == 1) { buf_putc(&b, (char)v); i += 2; }
        else buf_putc(&b, s[i]);
    }
    if (!b.data) buf_puts(&b, "");
    return buf_take(&b);
}

int hf_parse(const char *url, HfPath *p, fql_error *err)
{
    memset(p, 0, sizeof *p);
    const char *s = url + 5;
    if (strncmp(s, "datasets/", 9))
        return err_set(err, FQL_ERR_IO, "%s: hf:// paths name a dataset file: hf://datasets/OWNER/NAME/PATH (models and spaces are not read)", url);
    s += 9;
    const char *slash = strchr(s, '/');
    const char *name = slash ? slash + 1 : NULL;
    size_t nlen = name ? strcspn(name, "/@") : 0;
    if (!slash || slash == s || nlen == 0)
        return err_set(err, FQL_ERR_IO, "%s: expected hf://datasets/OWNER/NAME/PATH", url);
    p->owner_name = xstrndup(s, (size_t)(name + nlen - s));
    const char *rest = name + nlen;
    if (*rest == '@') {
        const char *r = rest + 1;
        size_t rl = strcspn(r, "/");
        /* refs/convert/NAME and refs/pr/N hold slashes of their own */
        if (!strncmp(r, "refs/", 5)) {
            const char *third = strchr(r + 5, '/');
            rl = third ? (size_t)(third - r) + strcspn(third + 1, "/") + 1 : strlen(r);
        }
        p->revision = percent_decode(r, rl);
        rest = r + rl;
    } else p->revision = xstrdup("main");
    if (*rest == '/') rest++;
    if (!*rest || !*p->revision) {
        hf_path_free(p);
        return err_set(err, FQL_ERR_IO, "%s: name a file or a glob inside the dataset (hf://datasets/OWNER/NAME/PATH)", url);
    }
    p->path = xstrdup(rest);
    return 0;
}

void hf_path_free(HfPath *p)
{
    free(p->owner_name);
    free(p->revision);
    free(p->path);
    memset(p, 0, sizeof *p);
}

char *hf_endpoint(void)
{
    const char *e = getenv("HF_ENDPOINT");
    if (!e || !*e) e = "https://huggingface.co";
    size_t n = strlen(e);
    while (n > 0 && e[n - 1] == '/') n--;
    return xstrndup(e, n);
}

/* Append ENDPOINT[/api]/datasets/OWNER/NAME/VERB/REVISION. */
static void repo_url(Buf *b, const HfPath *p, int api, const char *verb)
{
    char *ep = hf_endpoint();
    buf_printf(b, "%s%s/datasets/%s/%s/", ep, api ? "/api" : "", p->owner_name, verb);
    free(ep);
    http_url_encode(b, p->revision, 0);
}

char *hf_resolve_url(const HfPath *p, const char *file)
{
    Buf b;
    buf_init(&b);
    repo_url(&b, p, 0, "resolve");
    buf_putc(&b, '/');
    http_url_encode(&b, file, 1);
    return buf_take(&b);
}

char *hf_display(const HfPath *p, const char *file)
{
    int main_rev = !strcmp(p->revision, "main");
    return xasprintf("hf://datasets/%s%s%s/%s", p->owner_name, main_rev ? "" : "@", main_rev ? "" : p->revision, file);
}

struct curl_slist *hf_auth_headers(void)
{
    const char *t = getenv("HF_TOKEN");
    if (!t || !*t) t = getenv("HUGGING_FACE_HUB_TOKEN");
    if (!t || !*t) return NULL;
    char *h = xasprintf("Authorization: Bearer %s", t);
    struct curl_slist *l = curl_slist_append(NULL, h);
    memset(h, 0, strlen(h));
    free(h);
    return l;
}

const char *hf_hint(long status)
{
    const char *t = getenv("HF_TOKEN");
    int token = (t && *t) || ((t = getenv("HUGGING_FACE_HUB_TOKEN")) && *t);
    if (status == 401 || status == 403)
        return token ? "HF_TOKEN cannot read this dataset (for a gated dataset, accept its terms on the Hub first)"
                     : "the dataset is private or gated: set HF_TOKEN to a token that can read it";
    if (status == 404)
        return token ? "check the owner, name, revision and path" : "check the owner, name, revision and path (a private dataset also needs HF_TOKEN)";
    if (status >= 500) return "the Hub failed; try again later";
    return NULL;
}

/* The origin (scheme://host[:port]) of url, as a length. */
static size_t origin_len(const char *url)
{
    const char *s = strstr(url, "://");
    return s ? (size_t)(s + 3 - url) + strcspn(s + 3, "/?#") : 0;
}

/* The next page's URL on our endpoint: a mirror may hand out links to huggingface.co. */
static char *next_url(const char *link)
{
    char *ep = hf_endpoint();
    char *url = xasprintf("%.*s%s", (int)origin_len(ep), ep, link + origin_len(link));
    free(ep);
    return url;
}

static int add_entries(const HfPath *p, const char *display, const char *body, NameList *l, fql_error *err)
{
    json_error_t je;
    json_t *arr = json_loads(body ? body : "", 0, &je);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return err_set(err, FQL_ERR_IO, "%s: the Hub's file list is not a JSON array (%s); is HF_ENDPOINT a Hub?", display, je.text);
    }
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        const char *type = json_string_value(json_object_get(e, "type"));
        const char *path = json_string_value(json_object_get(e, "path"));
        if (!type || strcmp(type, "file") || !path || !io_glob_match(p->path, path)) continue;
        io_names_add(l, path);
    }
    json_decref(arr);
    return 0;
}

int hf_list(Http *h, const HfPath *p, NameList *l, fql_error *err)
{
    /* the directory before the first wildcard component, and whether the rest spans directories */
    size_t dirlen = 0;
    for (const char *c = p->path; *c; ) {
        size_t n = strcspn(c, "/");
        if (!c[n] || memchr(c, '*', n) || memchr(c, '?', n) || memchr(c, '[', n)) break;
        dirlen = (size_t)(c + n - p->path);
        c += n + 1;
    }
    const char *rest = p->path + dirlen + (dirlen ? 1 : 0);
    int recursive = strchr(rest, '/') || strstr(rest, "**");
    Buf u;
    buf_init(&u);
    repo_url(&u, p, 1, "tree");
    if (dirlen) {
        char *dir = xstrndup(p->path, dirlen);
        buf_putc(&u, '/');
        http_url_encode(&u, dir, 1);
        free(dir);
    }
    if (recursive) buf_puts(&u, "?recursive=true");
    char *url = buf_take(&u);
    char *display = hf_display(p, p->path);
    struct curl_slist *auth = hf_auth_headers();
    int rc = 0;
    while (url && rc == 0) {
        HttpReq rq = { .url = url, .name = display, .headers = auth, .policy = http_reader_policy() };
        HttpResp resp;
        rc = http_do(h, &rq, &resp, err);
        if (rc == 0 && resp.status != 200) rc = http_status_error(err, display, &resp, hf_hint(resp.status));
        if (rc == 0) rc = add_entries(p, display, resp.body.data, l, err);
        free(url);
        url = rc == 0 && resp.link_next ? next_url(resp.link_next) : NULL;
        http_resp_free(&resp);
    }
    free(url);
    curl_slist_free_all(auth);
    free(display);
    io_names_sort(l);
    return rc;
}
