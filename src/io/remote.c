/* remote.c: fetching https://, http://, hf:// and s3:// paths into local files for the ordinary
 * readers (reader.c wraps them so that errors name the URL), and writing s3:// targets.
 *
 * A remote path becomes local files: each remote file is streamed into a temporary file (or, with
 * `cache: true`, into the cache directory, where the next read revalidates it with If-None-Match /
 * If-Modified-Since and a 304 reuses it). The transfers go through the HTTP helper
 * (remote_http.c, http_reader_policy): redirects followed, no data for FQL_REMOTE_TIMEOUT seconds
 * (default 60) aborts, connection resets, 429 and 5xx are retried a few times with backoff.
 * Layers: reader.c → remote.c → remote_hf.c, remote_s3.c → remote_http.c; nothing here calls up.
 *
 * Cache layout: $FQL_CACHE_DIR, else $XDG_CACHE_HOME/fql, else ~/.cache/fql; each URL gets
 * remote/SHA256(URL)/ holding the file under its own base name and meta.json (the URL as shown,
 * ETag, Last-Modified). URLs are hashed without user:password; tokens and keys travel in headers
 * and never reach the cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/evp.h>
#include "remote.h"

/* ---- small helpers ---- */

/* Whether a query parameter's name says its value is a secret. */
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
    http_sha256_hex(u, strlen(u), key);
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
    struct curl_slist *cond = conditional_headers(base, &e, &validated);
    rq.headers = cond;
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
    curl_slist_free_all(cond);
    if (rc == 0) { add_file(f->rf, e.data, base->name, 0); e.data = NULL; }
    cache_entry_free(&e);
    return rc;
}

static int fetch_one(Fetch *f, const char *url, const char *name, fql_error *err)
{
    HttpReq rq;
    memset(&rq, 0, sizeof rq);
    rq.url = url;
    rq.name = name;
    rq.headers = f->headers;
    if (f->s3) { rq.sign = s3_sign; rq.sign_ud = f->s3; }
    rq.policy = http_reader_policy();
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
    NameList l = { NULL, 0, 0 };
    int rc = 0;
    if (!io_has_magic(p.path)) io_names_add(&l, p.path);
    else if ((rc = hf_list(f->http, &p, &l, err)) == 0 && l.n == 0) rc = no_match(url, err);
    for (int i = 0; i < l.n && rc == 0; i++) {
        char *u = hf_resolve_url(&p, l.names[i]), *name = hf_display(&p, l.names[i]);
        rc = fetch_one(f, u, name, err);
        free(u);
        free(name);
    }
    io_names_free(&l);
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
    NameList l = { NULL, 0, 0 };
    int rc = 0;
    if (!*p.key) rc = err_set(err, FQL_ERR_IO, "%s: name an object or a glob after the bucket (s3://BUCKET/KEY)", url);
    else if (!io_has_magic(p.key)) io_names_add(&l, p.key);
    else if ((rc = s3_list(f->http, &a, &p, &l, err)) == 0 && l.n == 0) rc = no_match(url, err);
    for (int i = 0; i < l.n && rc == 0; i++) {
        char *u = s3_url(p.bucket, l.names[i], NULL), *name = xasprintf("s3://%s/%s", p.bucket, l.names[i]);
        rc = fetch_one(f, u, name, err);
        free(u);
        free(name);
    }
    f->s3 = NULL;
    io_names_free(&l);
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
    if (!*p.key || io_has_magic(p.key) || p.key[strlen(p.key) - 1] == '/')
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
