/* remote.c: reading https://, http://, hf:// and s3:// paths through the ordinary readers, and
 * writing s3:// targets.
 *
 * A remote path becomes local files: each remote file is streamed by libcurl into a temporary
 * file (or, with `cache: true`, into the cache directory, where the next read revalidates it with
 * If-None-Match / If-Modified-Since and a 304 reuses it). The format's reader then reads the local
 * copies, wrapped so that its errors name the URL. Requests follow redirects, give up on a server
 * that sends nothing for FQL_REMOTE_TIMEOUT seconds (default 60), and retry connection resets,
 * 429 and 5xx answers a few times with backoff.
 *
 * Cache layout: $FQL_CACHE_DIR, else $XDG_CACHE_HOME/fql, else ~/.cache/fql; each URL gets
 * remote/SHA256(URL)/ holding the file under its own base name and meta.json (the URL as shown,
 * ETag, Last-Modified). URLs are hashed without user:password; tokens and keys travel in headers
 * and never reach the cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/evp.h>
#include "remote.h"

#define MAX_ATTEMPTS 4
#define ERROR_BODY_MAX (64u << 10)

/* ---- small helpers ---- */

int io_is_remote(const char *path)
{
    return !strncmp(path, "https://", 8) || !strncmp(path, "http://", 7) ||
           !strncmp(path, "hf://", 5) || !strncmp(path, "s3://", 5);
}

int remote_has_magic(const char *s) { return strpbrk(s, "*?[") != NULL; }

void remote_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", md[i]);
    out[64] = 0;
}

void remote_url_encode(Buf *b, const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && keep_slash))
            buf_putc(b, (char)c);
        else {
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };
            buf_append(b, e, 3);
        }
    }
}

static int secret_param(const char *name, size_t n)
{
    static const char *const words[] = { "signature", "token", "key", "credential", "secret", "password", "sig" };
    char low[64];
    if (n >= sizeof low) n = sizeof low - 1;
    for (size_t i = 0; i < n; i++) low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    low[n] = 0;
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strstr(low, words[i])) return 1;
    return 0;
}

/* url without its user:password@. New string. */
static char *strip_userinfo(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *host_end = p + strcspn(p, "/?#");
    const char *at = memchr(p, '@', (size_t)(host_end - p));
    if (!at) return xstrdup(url);
    return xasprintf("%.*s%s", (int)(p - url), url, at + 1);
}

char *remote_display_url(const char *url)
{
    char *u = strip_userinfo(url);
    const char *q = strchr(u, '?');
    if (!q) return u;
    Buf b;
    buf_init(&b);
    buf_append(&b, u, (size_t)(q + 1 - u));
    for (const char *s = q + 1; *s; ) {
        size_t len = strcspn(s, "&#");
        const char *eq = memchr(s, '=', len);
        if (eq && secret_param(s, (size_t)(eq - s))) {
            buf_append(&b, s, (size_t)(eq + 1 - s));
            buf_puts(&b, "REDACTED");
        } else buf_append(&b, s, len);
        s += len;
        if (*s == '#') { buf_puts(&b, s); break; }
        if (*s == '&') buf_putc(&b, *s++);
    }
    free(u);
    return buf_take(&b);
}

/* Glob match component by component; `**` matches any number of components. */
static int match_comps(const char *pat, const char *path)
{
    if (!*pat) return !*path;
    size_t pl = strcspn(pat, "/"), sl = strcspn(path, "/");
    const char *pnext = pat[pl] ? pat + pl + 1 : pat + pl;
    if (pl == 2 && !strncmp(pat, "**", 2)) {
        if (match_comps(pnext, path)) return 1;             /* zero components */
        if (!*path) return 0;
        return match_comps(pat, path[sl] ? path + sl + 1 : path + sl);
    }
    if (!*path) return 0;
    char pc[1024], sc[1024];
    if (pl >= sizeof pc || sl >= sizeof sc) return 0;
    memcpy(pc, pat, pl); pc[pl] = 0;
    memcpy(sc, path, sl); sc[sl] = 0;
    if (fnmatch(pc, sc, 0) != 0) return 0;
    if (!pat[pl] || !path[sl]) return !pat[pl] && !path[sl];
    return match_comps(pnext, path + sl + 1);
}

int remote_glob_match(const char *pattern, const char *path) { return match_comps(pattern, path); }

void remote_list_add(RemoteList *l, const char *name)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->names = xrealloc(l->names, (size_t)l->cap * sizeof *l->names);
    }
    l->names[l->n++] = xstrdup(name);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void remote_list_sort(RemoteList *l)
{
    if (l->n < 2) return;
    qsort(l->names, (size_t)l->n, sizeof *l->names, cmp_str);
    int k = 1;
    for (int i = 1; i < l->n; i++) {
        if (strcmp(l->names[i], l->names[k - 1])) l->names[k++] = l->names[i];
        else free(l->names[i]);
    }
    l->n = k;
}

void remote_list_free(RemoteList *l)
{
    for (int i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof *l);
}

static void xml_unescape(Buf *b, const char *s, size_t n)
{
    static const struct { const char *ent; char c; } ents[] = {
        { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' }, { "&apos;", '\'' } };
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '&') { buf_putc(b, s[i]); continue; }
        size_t k;
        for (k = 0; k < sizeof ents / sizeof *ents; k++) {
            size_t el = strlen(ents[k].ent);
            if (i + el <= n && !strncmp(s + i, ents[k].ent, el)) { buf_putc(b, ents[k].c); i += el - 1; break; }
        }
        if (k < sizeof ents / sizeof *ents) continue;
        if (i + 2 < n && s[i + 1] == '#') {                 /* &#NN; or &#xNN; */
            char *end;
            int hexa = s[i + 2] == 'x';
            unsigned long cp = strtoul(s + i + 2 + hexa, &end, hexa ? 16 : 10);
            if (*end == ';' && (size_t)(end - s) < n && cp > 0 && cp < 0x110000) {
                char u[4];
                buf_append(b, u, (size_t)utf8_encode((uint32_t)cp, u));
                i = (size_t)(end - s);
                continue;
            }
        }
        buf_putc(b, '&');
    }
}

char *remote_xml_text(const char *xml, const char *tag, size_t *pos)
{
    char open[128], close[128];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *s = strstr(xml + *pos, open);
    if (!s) return NULL;
    s += strlen(open);
    const char *e = strstr(s, close);
    if (!e) return NULL;
    *pos = (size_t)(e + strlen(close) - xml);
    Buf b;
    buf_init(&b);
    xml_unescape(&b, s, (size_t)(e - s));
    if (!b.data) buf_puts(&b, "");
    return buf_take(&b);
}

/* ---- HTTP ---- */

struct Http {
    CURL *c;
    char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

Http *http_new(void)
{
    pthread_once(&curl_once, curl_init_once);
    Http *h = xcalloc(1, sizeof *h);
    h->c = curl_easy_init();
    if (!h->c) { free(h); return NULL; }
    return h;
}

void http_free(Http *h)
{
    if (!h) return;
    curl_easy_cleanup(h->c);
    free(h);
}

static void forget_headers(HttpResp *r)
{
    free(r->etag);
    free(r->last_modified);
    free(r->link_next);
    free(r->x_error);
    free(r->region);
    r->etag = r->last_modified = r->link_next = r->x_error = r->region = NULL;
    r->reason[0] = 0;
}

void http_resp_free(HttpResp *r)
{
    forget_headers(r);
    buf_free(&r->body);
    memset(r, 0, sizeof *r);
}

typedef struct Xfer { HttpResp *resp; FILE *sink; int write_failed; } Xfer;

static char *header_value(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) || line[k] != ':') return NULL;
    const char *v = line + k + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
    return xstrndup(v, (size_t)(end - v));
}

static void set_field(char **field, char *v)
{
    if (!v) return;
    free(*field);
    *field = v;
}

/* The URL of rel="next" in a Link header value, or NULL. */
static char *link_next(const char *v)
{
    for (const char *s = strchr(v, '<'); s; s = strchr(s + 1, '<')) {
        const char *e = strchr(s, '>');
        if (!e) return NULL;
        const char *stop = strchr(e, ',');
        const char *rel = strstr(e, "rel=\"next\"");
        if (rel && (!stop || rel < stop)) return xstrndup(s + 1, (size_t)(e - s - 1));
    }
    return NULL;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    Xfer *x = ud;
    HttpResp *r = x->resp;
    size_t n = size * nmemb;
    if (n > 5 && !strncmp(data, "HTTP/", 5)) {
        /* a new response (after a redirect or a 100 Continue): forget the last one's headers */
        forget_headers(r);
        const char *sp = memchr(data, ' ', n);
        r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        const char *rs = sp ? memchr(sp + 1, ' ', n - (size_t)(sp + 1 - data)) : NULL;
        snprintf(r->reason, sizeof r->reason, "%.*s", rs ? (int)(n - (size_t)(rs + 1 - data)) : 0, rs ? rs + 1 : "");
        r->reason[strcspn(r->reason, "\r\n")] = 0;
        return n;
    }
    set_field(&r->etag, header_value(data, n, "ETag"));
    set_field(&r->last_modified, header_value(data, n, "Last-Modified"));
    set_field(&r->x_error, header_value(data, n, "X-Error-Message"));
    set_field(&r->region, header_value(data, n, "x-amz-bucket-region"));
    char *link = header_value(data, n, "Link");
    if (link) { set_field(&r->link_next, link_next(link)); free(link); }
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    Xfer *x = ud;
    size_t n = size * nmemb;
    long st = x->resp->status;
    if (x->sink && st >= 200 && st < 300) {
        if (fwrite(data, 1, n, x->sink) != n) { x->write_failed = errno ? errno : EIO; return 0; }
        return n;
    }
    if (!x->sink || x->resp->body.len < ERROR_BODY_MAX) buf_append(&x->resp->body, data, n);
    return n;
}

static long stall_seconds(void)
{
    const char *t = getenv("FQL_REMOTE_TIMEOUT");
    long v = t ? strtol(t, NULL, 10) : 0;
    return v > 0 ? v : 60;
}

static int has_header(const struct curl_slist *l, const char *name)
{
    size_t k = strlen(name);
    for (; l; l = l->next)
        if (!strncasecmp(l->data, name, k) && l->data[k] == ':') return 1;
    return 0;
}

/* Set up one attempt of rq on the (reset) handle; *hdrs receives the header list to free. */
static void setup(Http *h, const HttpReq *rq, Xfer *x, struct curl_slist **hdrs)
{
    CURL *c = h->c;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, rq->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall_seconds());
    curl_easy_setopt(c, CURLOPT_USERAGENT, "fql");
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    struct curl_slist *l = NULL;
    for (const struct curl_slist *s = rq->headers; s; s = s->next) l = curl_slist_append(l, s->data);
    const char *m = rq->method ? rq->method : "GET";
    if (!strcmp(m, "HEAD")) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (!strcmp(m, "GET")) curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
        if (strcmp(m, "DELETE")) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
            if (!has_header(rq->headers, "Content-Type")) l = curl_slist_append(l, "Content-Type: application/octet-stream");
            l = curl_slist_append(l, "Expect:");
        }
    }
    if (rq->s3 && rq->s3->userpwd) {
        s3_sign_headers(rq->s3, rq->body, rq->body_len, &l);
        s3_setup_handle(c, rq->s3);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, l);
    *hdrs = l;
}

static int transient(CURLcode rc, long status)
{
    if (rc == CURLE_OK) return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
    return rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING ||
           rc == CURLE_PARTIAL_FILE || rc == CURLE_HTTP2 || rc == CURLE_HTTP2_STREAM;
}

static int transfer_error(Http *h, const HttpReq *rq, CURLcode rc, int write_errno, fql_error *err)
{
    const char *detail = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return err_set(err, FQL_ERR_IO, "%s: no data for %ld seconds (%s); the server is stalled or slow (FQL_REMOTE_TIMEOUT sets the wait)",
                       rq->name, stall_seconds(), detail);
    case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_CONNECT:
        return err_set(err, FQL_ERR_IO, "%s: cannot connect (%s); check the URL and the network", rq->name, detail);
    case CURLE_TOO_MANY_REDIRECTS:
        return err_set(err, FQL_ERR_IO, "%s: too many redirects (%s)", rq->name, detail);
    case CURLE_WRITE_ERROR:
        if (write_errno)
            return err_set(err, FQL_ERR_IO, "%s: cannot store the download: %s", rq->name, strerror(write_errno));
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
        return err_set(err, FQL_ERR_IO, "%s: redirected to a URL that is not http or https (%s)", rq->name, detail);
    default: break;
    }
    return err_set(err, FQL_ERR_IO, "%s: %s (%s)", rq->name, curl_easy_strerror(rc), detail);
}

int http_do(Http *h, const HttpReq *rq, HttpResp *resp, fql_error *err)
{
    memset(resp, 0, sizeof *resp);
    buf_init(&resp->body);
    for (int attempt = 1; ; attempt++) {
        Xfer x = { resp, rq->sink, 0 };
        struct curl_slist *hdrs = NULL;
        h->errbuf[0] = 0;
        resp->status = 0;
        buf_clear(&resp->body);
        if (rq->sink) {
            fflush(rq->sink);
            if (ftruncate(fileno(rq->sink), 0) == 0) rewind(rq->sink);
        }
        setup(h, rq, &x, &hdrs);
        CURLcode rc = curl_easy_perform(h->c);
        curl_slist_free_all(hdrs);
        if (rq->sink && rc == CURLE_OK && fflush(rq->sink) != 0) { rc = CURLE_WRITE_ERROR; x.write_failed = errno; }
        if (attempt < MAX_ATTEMPTS && transient(rc, resp->status)) {
            struct timespec ts = { 0, 200000000L << (attempt - 1) };
            while (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
            nanosleep(&ts, NULL);
            continue;
        }
        if (rc != CURLE_OK) return transfer_error(h, rq, rc, x.write_failed, err);
        return 0;
    }
}

int http_status_error(fql_error *err, const char *name, const HttpResp *r, const char *hint)
{
    Buf d;
    buf_init(&d);
    if (r->x_error) buf_printf(&d, " (%s)", r->x_error);
    else if (r->body.data && strstr(r->body.data, "<Error>")) {
        size_t pos = 0;
        char *code = remote_xml_text(r->body.data, "Code", &pos);
        pos = 0;
        char *msg = remote_xml_text(r->body.data, "Message", &pos);
        if (code) buf_printf(&d, " (%s%s%s)", code, msg ? ": " : "", msg ? msg : "");
        free(code);
        free(msg);
    }
    const char *reason = r->reason[0] ? r->reason : "";
    err_set(err, FQL_ERR_IO, "%s: HTTP %ld%s%s%s%s%s", name, r->status, *reason ? " " : "", reason,
            d.data ? d.data : "", hint && *hint ? "; " : "", hint ? hint : "");
    buf_free(&d);
    return -1;
}

static const char *http_hint(long status)
{
    if (status == 404 || status == 410) return "check the URL";
    if (status == 401 || status == 403) return "the server refuses access to this URL";
    if (status >= 500) return "the server failed; try again later";
    return NULL;
}

/* ---- the download cache ---- */

static char *cache_root(void)
{
    const char *d = getenv("FQL_CACHE_DIR");
    if (d && *d) return xstrdup(d);
    d = getenv("XDG_CACHE_HOME");
    if (d && *d) return xasprintf("%s/fql", d);
    d = getenv("HOME");
    return d && *d ? xasprintf("%s/.cache/fql", d) : NULL;
}

static int mkdirs(const char *path, fql_error *err)
{
    char *p = xstrdup(path);
    for (char *s = p + 1; ; s++) {
        if (*s != '/' && *s) continue;
        char c = *s;
        *s = 0;
        if (mkdir(p, 0700) < 0 && errno != EEXIST) {
            err_set(err, FQL_ERR_IO, "cannot create the cache directory %s: %s (FQL_CACHE_DIR sets another)", p, strerror(errno));
            free(p);
            return -1;
        }
        if (!c) break;
        *s = c;
    }
    free(p);
    return 0;
}

static void meta_save(const char *path, const char *name, const HttpResp *r)
{
    json_t *j = json_object();
    json_object_set_new(j, "url", json_string(name));
    if (r->etag) json_object_set_new(j, "etag", json_string(r->etag));
    if (r->last_modified) json_object_set_new(j, "last_modified", json_string(r->last_modified));
    json_object_set_new(j, "fetched_at", json_integer((json_int_t)time(NULL)));
    char *tmp = xasprintf("%s.tmp", path);
    if (json_dump_file(j, tmp, JSON_INDENT(1)) == 0) rename(tmp, path);
    else unlink(tmp);
    free(tmp);
    json_decref(j);
}

/* ---- fetching ---- */

typedef struct RemoteFile { char *local, *name; int temporary; } RemoteFile;

struct RemoteFiles {
    int refcnt;            /* plan_copy shares one fetch between copies of a scan */
    RemoteFile *files;
    int n, cap;
    char *spool;           /* temporary directory of the uncached copies, or NULL */
};

typedef struct Fetch {
    Http *http;
    RemoteFiles *rf;
    int cache;
    struct curl_slist *headers;   /* Hub authorization */
    const S3Auth *s3;
} Fetch;

int remote_count(const RemoteFiles *rf) { return rf->n; }
const char *remote_local(const RemoteFiles *rf, int i) { return rf->files[i].local; }
const char *remote_name(const RemoteFiles *rf, int i) { return rf->files[i].name; }

int remote_local_paths(const RemoteFiles *rf, char ***paths)
{
    *paths = xmalloc(((size_t)rf->n + 1) * sizeof **paths);
    for (int i = 0; i < rf->n; i++) (*paths)[i] = xstrdup(rf->files[i].local);
    return rf->n;
}

/* SHA-256 hex of a file's bytes; 0, or -1 when it cannot be read. */
static int file_sha256(const char *path, char out[65])
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    char buf[1 << 16];
    for (size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0; ) EVP_DigestUpdate(c, buf, n);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(c, md, &len);
    EVP_MD_CTX_free(c);
    int rc = ferror(f) ? -1 : 0;
    fclose(f);
    for (unsigned i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", md[i]);
    out[64] = 0;
    return rc;
}

void remote_fingerprint(Buf *b, const RemoteFiles *rf)
{
    for (int i = 0; i < rf->n; i++) {
        char sha[65];
        if (file_sha256(rf->files[i].local, sha) < 0) snprintf(sha, sizeof sha, "unreadable");
        buf_printf(b, "[%s %s]", rf->files[i].name, sha);
    }
}

RemoteFiles *remote_files_ref(RemoteFiles *rf)
{
    if (rf) rf->refcnt++;
    return rf;
}

void remote_files_free(RemoteFiles *rf)
{
    if (!rf || --rf->refcnt > 0) return;
    for (int i = 0; i < rf->n; i++) {
        if (rf->files[i].temporary) unlink(rf->files[i].local);
        free(rf->files[i].local);
        free(rf->files[i].name);
    }
    free(rf->files);
    if (rf->spool) rmdir(rf->spool);
    free(rf->spool);
    free(rf);
}

static void add_file(RemoteFiles *rf, char *local, const char *name, int temporary)
{
    if (rf->n == rf->cap) {
        rf->cap = rf->cap ? 2 * rf->cap : 4;
        rf->files = xrealloc(rf->files, (size_t)rf->cap * sizeof *rf->files);
    }
    rf->files[rf->n++] = (RemoteFile){ local, xstrdup(name), temporary };
}

static int fetch_status_error(const Fetch *f, const char *name, const HttpResp *r, fql_error *err)
{
    char buf[200];
    const char *hint = f->s3 ? s3_hint(f->s3, r, buf) : !strncmp(name, "hf://", 5) ? hf_hint(r->status) : http_hint(r->status);
    return http_status_error(err, name, r, hint);
}

/* The last path component of a URL or key, safe as a file name. */
static char *base_name(const char *name)
{
    size_t end = strcspn(name, "?#");
    size_t start = end;
    while (start > 0 && name[start - 1] != '/') start--;
    if (start == end || name[start] == '.') return xstrdup("data");
    return xstrndup(name + start, end - start);
}

static FILE *create_file(const char *path, fql_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { err_set(err, FQL_ERR_IO, "cannot create %s: %s", path, strerror(errno)); return NULL; }
    return fdopen(fd, "wb");
}

/* Download url into a new temporary file of the spool directory. */
static int fetch_temp(Fetch *f, const HttpReq *base, fql_error *err)
{
    RemoteFiles *rf = f->rf;
    if (!rf->spool) {
        const char *tmp = getenv("TMPDIR");
        char *dir = xasprintf("%s/fql-remote-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            err_set(err, FQL_ERR_IO, "cannot create a temporary directory for %s: %s", base->name, strerror(errno));
            free(dir);
            return -1;
        }
        rf->spool = dir;
    }
    char *bn = base_name(base->name);
    char *local = xasprintf("%s/%d-%s", rf->spool, rf->n, bn);
    free(bn);
    FILE *out = create_file(local, err);
    if (!out) { free(local); return -1; }
    HttpReq rq = *base;
    rq.sink = out;
    HttpResp resp;
    int rc = http_do(f->http, &rq, &resp, err);
    if (fclose(out) != 0 && rc == 0) rc = err_set(err, FQL_ERR_IO, "%s: cannot store the download: %s", base->name, strerror(errno));
    if (rc == 0 && (resp.status < 200 || resp.status >= 300))
        rc = fetch_status_error(f, base->name, &resp, err);
    http_resp_free(&resp);
    if (rc < 0) { unlink(local); free(local); return -1; }
    add_file(rf, local, base->name, 1);
    return 0;
}

typedef struct CacheEntry { char *dir, *data, *meta; } CacheEntry;

static void cache_entry_free(CacheEntry *e)
{
    free(e->dir);
    free(e->data);
    free(e->meta);
}

/* The cache directory of a URL: remote/SHA256(URL without user:password@)/. */
static int cache_entry(const HttpReq *rq, CacheEntry *e, fql_error *err)
{
    memset(e, 0, sizeof *e);
    char *root = cache_root();
    if (!root) return err_set(err, FQL_ERR_IO, "%s: cache: true needs a cache directory; set FQL_CACHE_DIR or HOME", rq->name);
    char *u = strip_userinfo(rq->url);
    char key[65];
    remote_sha256_hex(u, strlen(u), key);
    free(u);
    char *bn = base_name(rq->name);
    e->dir = xasprintf("%s/remote/%s", root, key);
    e->data = xasprintf("%s/%s", e->dir, bn);
    e->meta = xasprintf("%s/meta.json", e->dir);
    free(bn);
    free(root);
    if (mkdirs(e->dir, err) == 0) return 0;
    cache_entry_free(e);
    return -1;
}

/* rq's headers plus If-None-Match / If-Modified-Since from the entry's metadata (when the copy is
 * there); *validated says whether any was added. */
static struct curl_slist *conditional_headers(const HttpReq *rq, const CacheEntry *e, int *validated)
{
    struct curl_slist *l = NULL;
    for (const struct curl_slist *s = rq->headers; s; s = s->next) l = curl_slist_append(l, s->data);
    *validated = 0;
    struct stat st;
    if (stat(e->data, &st) != 0) return l;
    json_t *j = json_load_file(e->meta, 0, NULL);
    static const char *const fields[][2] = { { "etag", "If-None-Match" }, { "last_modified", "If-Modified-Since" } };
    for (int i = 0; j && i < 2; i++) {
        const char *v = json_string_value(json_object_get(j, fields[i][0]));
        if (!v) continue;
        char *h = xasprintf("%s: %s", fields[i][1], v);
        l = curl_slist_append(l, h);
        free(h);
        *validated = 1;
    }
    json_decref(j);
    return l;
}

/* Download url into the cache, or revalidate the cached copy (a 304 keeps it). The download goes
 * to a unique temporary name first, so concurrent readers never see half a file. */
static int fetch_cached(Fetch *f, const HttpReq *base, fql_error *err)
{
    CacheEntry e;
    if (cache_entry(base, &e, err) < 0) return -1;
    char *tmp = xasprintf("%s/.part-XXXXXX", e.dir);
    int fd = mkstemp(tmp);
    FILE *out = fd >= 0 ? fdopen(fd, "wb") : NULL;
    int rc = 0, validated = 0;
    HttpResp resp;
    memset(&resp, 0, sizeof resp);
    HttpReq rq = *base;
    rq.sink = out;
    rq.headers = conditional_headers(base, &e, &validated);
    if (!out) rc = err_set(err, FQL_ERR_IO, "cannot create a file in the cache directory %s: %s", e.dir, strerror(errno));
    else rc = http_do(f->http, &rq, &resp, err);
    if (out && fclose(out) != 0 && rc == 0) rc = err_set(err, FQL_ERR_IO, "%s: cannot store the download: %s", base->name, strerror(errno));
    if (rc == 0 && !(resp.status == 304 && validated)) {
        if (resp.status < 200 || resp.status >= 300) rc = fetch_status_error(f, base->name, &resp, err);
        else if (rename(tmp, e.data) != 0) rc = err_set(err, FQL_ERR_IO, "cannot write the cache file %s: %s", e.data, strerror(errno));
        else meta_save(e.meta, base->name, &resp);
    }
    unlink(tmp);
    free(tmp);
    http_resp_free(&resp);
    curl_slist_free_all(rq.headers);
    if (rc == 0) { add_file(f->rf, e.data, base->name, 0); e.data = NULL; }
    cache_entry_free(&e);
    return rc;
}

static int fetch_one(Fetch *f, const char *url, const char *name, fql_error *err)
{
    HttpReq rq = { NULL, url, name, f->headers, NULL, 0, NULL, f->s3 };
    return f->cache ? fetch_cached(f, &rq, err) : fetch_temp(f, &rq, err);
}

static int no_match(const char *url, fql_error *err)
{
    return err_set(err, FQL_ERR_IO, "no file matches %s", url);
}

static int fetch_hf(Fetch *f, const char *url, fql_error *err)
{
    HfPath p;
    if (hf_parse(url, &p, err) < 0) return -1;
    f->headers = hf_auth_headers();
    RemoteList l = { NULL, 0, 0 };
    int rc = 0;
    if (!remote_has_magic(p.path)) remote_list_add(&l, p.path);
    else if ((rc = hf_list(f->http, &p, &l, err)) == 0 && l.n == 0) rc = no_match(url, err);
    for (int i = 0; i < l.n && rc == 0; i++) {
        char *u = hf_resolve_url(&p, l.names[i]), *name = hf_display(&p, l.names[i]);
        rc = fetch_one(f, u, name, err);
        free(u);
        free(name);
    }
    remote_list_free(&l);
    hf_path_free(&p);
    return rc;
}

static int fetch_s3(Fetch *f, const char *url, fql_error *err)
{
    S3Path p;
    S3Auth a;
    if (s3_parse(url, &p, err) < 0) return -1;
    if (s3_auth_init(&a, err) < 0) { s3_path_free(&p); return -1; }
    f->s3 = &a;
    RemoteList l = { NULL, 0, 0 };
    int rc = 0;
    if (!*p.key) rc = err_set(err, FQL_ERR_IO, "%s: name an object or a glob after the bucket (s3://BUCKET/KEY)", url);
    else if (!remote_has_magic(p.key)) remote_list_add(&l, p.key);
    else if ((rc = s3_list(f->http, &a, &p, &l, err)) == 0 && l.n == 0) rc = no_match(url, err);
    for (int i = 0; i < l.n && rc == 0; i++) {
        char *u = s3_url(p.bucket, l.names[i], NULL), *name = xasprintf("s3://%s/%s", p.bucket, l.names[i]);
        rc = fetch_one(f, u, name, err);
        free(u);
        free(name);
    }
    f->s3 = NULL;
    remote_list_free(&l);
    s3_auth_free(&a);
    s3_path_free(&p);
    return rc;
}

RemoteFiles *remote_fetch(const char *url, int cache, fql_error *err)
{
    Fetch f = { http_new(), xcalloc(1, sizeof(RemoteFiles)), cache, NULL, NULL };
    f.rf->refcnt = 1;
    int rc;
    if (!f.http) rc = err_set(err, FQL_ERR_IO, "%s: cannot start libcurl", url);
    else if (!strncmp(url, "hf://", 5)) rc = fetch_hf(&f, url, err);
    else if (!strncmp(url, "s3://", 5)) rc = fetch_s3(&f, url, err);
    else {
        char *name = remote_display_url(url);
        rc = fetch_one(&f, url, name, err);
        free(name);
    }
    curl_slist_free_all(f.headers);
    http_free(f.http);
    if (rc < 0) { remote_files_free(f.rf); return NULL; }
    return f.rf;
}

/* Replace every occurrence of from in s (capacity cap) by to. */
static void replace_all(char *s, size_t cap, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to);
    if (!fl) return;
    Buf b;
    buf_init(&b);
    const char *p = s;
    for (const char *hit; (hit = strstr(p, from)); p = hit + fl) {
        buf_append(&b, p, (size_t)(hit - p));
        buf_append(&b, to, tl);
    }
    if (p == s) { buf_free(&b); return; }
    buf_puts(&b, p);
    snprintf(s, cap, "%s", b.data);
    buf_free(&b);
}

void remote_rename_error(const RemoteFiles *rf, fql_error *err)
{
    for (int i = 0; rf && i < rf->n; i++) {
        if (!strcmp(err->file, rf->files[i].local)) snprintf(err->file, sizeof err->file, "%s", rf->files[i].name);
        replace_all(err->message, sizeof err->message, rf->files[i].local, rf->files[i].name);
    }
}

/* ---- the reader wrapper ---- */

typedef struct RemoteReader {
    Reader base;
    Reader *inner;
    RemoteFiles *owned;        /* fetched by reader_open itself, or NULL */
    const RemoteFiles *rf;
} RemoteReader;

static int remote_next(Reader *base, Batch **out, fql_error *err)
{
    RemoteReader *r = (RemoteReader *)base;
    int rc = reader_next(r->inner, out, err);
    if (rc < 0) remote_rename_error(r->rf, err);
    return rc;
}

static void remote_close(Reader *base)
{
    RemoteReader *r = (RemoteReader *)base;
    reader_free(r->inner);
    remote_files_free(r->owned);
    schema_free(r->base.schema);
    free(r);
}

Reader *remote_reader_open(const char *url, const ReadOptions *o, fql_error *err)
{
    RemoteFiles *owned = NULL;
    const RemoteFiles *rf = o->fetched;
    if (!rf) {
        owned = remote_fetch(url, o->cache, err);
        if (!owned) return NULL;
        rf = owned;
    }
    char **paths;
    int n = remote_local_paths(rf, &paths);
    Reader *inner = reader_open_files(url, paths, n, o, err);
    if (!inner) {
        remote_rename_error(rf, err);
        remote_files_free(owned);
        return NULL;
    }
    RemoteReader *r = xcalloc(1, sizeof *r);
    r->base.schema = schema_copy(reader_schema(inner));
    r->base.next = remote_next;
    r->base.close = remote_close;
    r->inner = inner;
    r->owned = owned;
    r->rf = rf;
    return &r->base;
}

/* ---- writing ---- */

struct RemoteUpload {
    char *url;
    char *dir, *local;     /* staging directory and file */
};

const char *remote_write_refusal(const char *path, WriteMode mode)
{
    if (!io_is_remote(path)) return NULL;
    if (strncmp(path, "s3://", 5))
        return "only s3:// targets can be written remotely (https:// and hf:// are read-only here); write a local file or an s3:// object";
    if (mode == WRITE_APPEND)
        return "mode: \"append\" is not possible for s3:// targets (S3 objects cannot be appended to); use \"overwrite\" or write a new key";
    return NULL;
}

RemoteUpload *remote_upload_open(const char *url, WriteMode mode, fql_error *err)
{
    const char *why = remote_write_refusal(url, mode);
    if (why) { err_set(err, FQL_ERR_IO, "%s: %s", url, why); return NULL; }
    S3Path p;
    if (s3_parse(url, &p, err) < 0) return NULL;
    int rc = 0;
    if (!*p.key || remote_has_magic(p.key) || p.key[strlen(p.key) - 1] == '/')
        rc = err_set(err, FQL_ERR_IO, "%s: name one object to write (s3://BUCKET/KEY, no wildcards)", url);
    if (rc == 0 && mode == WRITE_ERROR) {
        S3Auth a;
        Http *h = http_new();
        rc = s3_auth_init(&a, err);
        if (rc == 0) {
            int e = s3_exists(h, &a, &p, err);
            if (e > 0) rc = err_set(err, FQL_ERR_IO, "%s already exists; use mode: \"overwrite\"", url);
            else if (e < 0) rc = -1;
            s3_auth_free(&a);
        }
        http_free(h);
    }
    s3_path_free(&p);
    if (rc < 0) return NULL;
    const char *tmp = getenv("TMPDIR");
    char *dir = xasprintf("%s/fql-upload-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        err_set(err, FQL_ERR_IO, "cannot create a temporary directory for %s: %s", url, strerror(errno));
        free(dir);
        return NULL;
    }
    RemoteUpload *u = xcalloc(1, sizeof *u);
    u->url = xstrdup(url);
    u->dir = dir;
    char *bn = base_name(url);
    u->local = xasprintf("%s/%s", dir, bn);
    free(bn);
    return u;
}

const char *remote_upload_local(const RemoteUpload *u) { return u->local; }

int remote_upload_finish(RemoteUpload *u, fql_error *err)
{
    S3Path p;
    S3Auth a;
    if (s3_parse(u->url, &p, err) < 0) return -1;
    int rc = s3_auth_init(&a, err);
    if (rc == 0) {
        Http *h = http_new();
        rc = h ? s3_upload(h, &a, &p, u->local, err) : err_set(err, FQL_ERR_IO, "%s: cannot start libcurl", u->url);
        http_free(h);
        s3_auth_free(&a);
    }
    s3_path_free(&p);
    return rc;
}

void remote_upload_free(RemoteUpload *u)
{
    if (!u) return;
    unlink(u->local);
    rmdir(u->dir);
    free(u->local);
    free(u->dir);
    free(u->url);
    free(u);
}
