/* remote_http.c: the one helper for blocking HTTP fetches (http.h): one libcurl easy handle per
 * transfer (or a multi for several at once), the policy of each caller (timeouts, redirects,
 * retries with backoff, size caps), the headers the callers read, error messages that say what
 * failed and what to do, and the small wire helpers the remote readers share (percent-encoding,
 * payload hashes, S3's XML). The bottom of src/io/: it calls nothing above it; a request that
 * must be signed hands down a hook (HttpReq.sign). http_global_init is the library's only
 * curl_global_init.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "http.h"

#define ERROR_BODY_MAX (64u << 10)

/* ---- setup ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

void http_global_init(void) { pthread_once(&curl_once, curl_init_once); }

/* FQL_REMOTE_TIMEOUT: seconds without data before a remote read gives up (default 60). */
static long stall_seconds(void)
{
    const char *t = getenv("FQL_REMOTE_TIMEOUT");
    long v = t ? strtol(t, NULL, 10) : 0;
    return v > 0 ? v : 60;
}

HttpPolicy http_reader_policy(void)
{
    HttpPolicy p = { 0 };
    p.connect_timeout_ms = 30000;
    p.stall_s = stall_seconds();
    p.follow = 1;
    p.attempts = 4;
    p.user_agent = "fql";
    p.no_expect = 1;
    return p;
}

/* ---- wire helpers ---- */

void http_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", md[i]);
    out[64] = 0;
}

void http_url_encode(Buf *b, const char *s, int keep_slash)
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

/* Append s[0..n) with XML's five entities and numeric references decoded. */
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

char *http_xml_text(const char *xml, const char *tag, size_t *pos)
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

/* ---- transfers ---- */

struct Http {
    CURL *c;
    char errbuf[CURL_ERROR_SIZE];
};

Http *http_new(void)
{
    http_global_init();
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

/* Drop the headers of a response that was followed by another (a redirect, 100 Continue). */
static void forget_headers(HttpResp *r)
{
    free(r->etag);
    free(r->last_modified);
    free(r->link_next);
    free(r->x_error);
    free(r->region);
    r->etag = r->last_modified = r->link_next = r->x_error = r->region = NULL;
    r->reason[0] = 0;
    buf_clear(&r->head);
}

static void resp_init(HttpResp *r)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->body);
    buf_init(&r->head);
}

void http_resp_free(HttpResp *r)
{
    forget_headers(r);
    buf_free(&r->body);
    buf_free(&r->head);
    memset(r, 0, sizeof *r);
}

/* One transfer's state, the callbacks' user data. */
typedef struct Xfer {
    const HttpReq *rq;
    HttpResp *resp;
    int write_failed;              /* errno of a failed write to the sink */
    char errbuf[CURL_ERROR_SIZE];  /* http_do_many's (http_do uses its Http's) */
    struct curl_slist *hdrs;       /* the request's header list, freed after the transfer */
    curl_mime *mime;
} Xfer;

/* The trimmed value of header line[0..n) when it is name (any case), else NULL. New string. */
static char *header_value(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) || line[k] != ':') return NULL;
    const char *v = line + k + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
    return xstrndup(v, (size_t)(end - v));
}

/* Replace *field by v (taken over) when v is not NULL. */
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

/* libcurl's header callback: the status line starts a new response; the headers the callers
 * read are kept, with the raw block. */
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
    buf_append(&r->head, data, n);
    set_field(&r->etag, header_value(data, n, "ETag"));
    set_field(&r->last_modified, header_value(data, n, "Last-Modified"));
    set_field(&r->x_error, header_value(data, n, "X-Error-Message"));
    set_field(&r->region, header_value(data, n, "x-amz-bucket-region"));
    char *link = header_value(data, n, "Link");
    if (link) { set_field(&r->link_next, link_next(link)); free(link); }
    return n;
}

/* libcurl's body callback: a 2xx body into the sink when there is one, else into resp->body
 * (an error body only up to 64 KB; any body only up to the policy's cap). */
static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    Xfer *x = ud;
    size_t n = size * nmemb;
    long st = x->resp->status;
    FILE *sink = x->rq->sink;
    if (sink && st >= 200 && st < 300) {
        if (fwrite(data, 1, n, sink) != n) { x->write_failed = errno ? errno : EIO; return 0; }
        return n;
    }
    size_t cap = x->rq->policy.max_body;
    if (cap && x->resp->body.len + n > cap) return 0;   /* libcurl then fails the transfer */
    if (!sink || x->resp->body.len < ERROR_BODY_MAX) buf_append(&x->resp->body, data, n);
    return n;
}

/* Whether the list sets header name. */
static int has_header(const struct curl_slist *l, const char *name)
{
    size_t k = strlen(name);
    for (; l; l = l->next)
        if (!strncasecmp(l->data, name, k) && l->data[k] == ':') return 1;
    return 0;
}

/* Set up one attempt of x->rq on the (fresh or reset) handle c. */
static void setup(CURL *c, Xfer *x, char *errbuf)
{
    const HttpReq *rq = x->rq;
    const HttpPolicy *p = &rq->policy;
    curl_easy_setopt(c, CURLOPT_URL, rq->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (p->follow) {
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    }
    if (p->connect_timeout_ms > 0) curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, p->connect_timeout_ms);
    if (p->timeout_ms > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, p->timeout_ms);
    if (p->stall_s > 0) {
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, p->stall_s);
    }
    if (p->user_agent) curl_easy_setopt(c, CURLOPT_USERAGENT, p->user_agent);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    struct curl_slist *l = NULL;
    for (const struct curl_slist *s = rq->headers; s; s = s->next) l = curl_slist_append(l, s->data);
    const char *m = rq->method ? rq->method : rq->body || rq->nparts ? "POST" : "GET";
    if (!strcmp(m, "HEAD")) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (!strcmp(m, "GET")) curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
        if (rq->nparts) {
            x->mime = curl_mime_init(c);
            for (int i = 0; i < rq->nparts; i++) {
                const HttpPart *hp = &rq->parts[i];
                curl_mimepart *part = curl_mime_addpart(x->mime);
                curl_mime_name(part, hp->name);
                if (hp->filename) curl_mime_filename(part, hp->filename);
                if (hp->type) curl_mime_type(part, hp->type);
                curl_mime_data(part, hp->data, hp->len);
            }
            curl_easy_setopt(c, CURLOPT_MIMEPOST, x->mime);
        } else if (strcmp(m, "DELETE")) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
            if (!has_header(rq->headers, "Content-Type")) {
                char *ct = xasprintf("Content-Type: %s", rq->content_type ? rq->content_type : "application/octet-stream");
                l = curl_slist_append(l, ct);
                free(ct);
            }
            if (p->no_expect) l = curl_slist_append(l, "Expect:");
        }
    }
    if (rq->sign) rq->sign(rq->sign_ud, c, rq->body, rq->body_len, &l);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, l);
    x->hdrs = l;
}

/* After a transfer: free what setup made; headers are wiped first (they may hold a key). */
static void teardown(Xfer *x)
{
    for (struct curl_slist *s = x->hdrs; s; s = s->next)
        if (s->data) memset(s->data, 0, strlen(s->data));
    curl_slist_free_all(x->hdrs);
    curl_mime_free(x->mime);
    x->hdrs = NULL;
    x->mime = NULL;
}

/* Record a transfer that got no answer: its CURLcode and libcurl's message. */
static void note_failure(HttpResp *r, CURLcode rc, const char *errbuf)
{
    r->failed = (int)rc;
    snprintf(r->error, sizeof r->error, "%s", errbuf && *errbuf ? errbuf : curl_easy_strerror(rc));
}

/* Failures worth another try: resets, empty or cut answers, 429 and 5xx. */
static int transient(CURLcode rc, long status)
{
    if (rc == CURLE_OK) return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
    return rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING ||
           rc == CURLE_PARTIAL_FILE || rc == CURLE_HTTP2 || rc == CURLE_HTTP2_STREAM;
}

/* Fill err with what failed and what to do about it. Returns -1. */
static int transfer_error(const HttpReq *rq, const char *errbuf, CURLcode rc, int write_errno, fql_error *err)
{
    const char *name = rq->name ? rq->name : rq->url;
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        if (rq->policy.stall_s > 0)
            return err_set(err, FQL_ERR_IO, "%s: no data for %ld seconds (%s); the server is stalled or slow (FQL_REMOTE_TIMEOUT sets the wait)",
                           name, rq->policy.stall_s, detail);
        break;
    case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_CONNECT:
        return err_set(err, FQL_ERR_IO, "%s: cannot connect (%s); check the URL and the network", name, detail);
    case CURLE_TOO_MANY_REDIRECTS:
        return err_set(err, FQL_ERR_IO, "%s: too many redirects (%s)", name, detail);
    case CURLE_WRITE_ERROR:
        if (write_errno)
            return err_set(err, FQL_ERR_IO, "%s: cannot store the download: %s", name, strerror(write_errno));
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
        return err_set(err, FQL_ERR_IO, "%s: redirected to a URL that is not http or https (%s)", name, detail);
    default: break;
    }
    return err_set(err, FQL_ERR_IO, "%s: %s (%s)", name, curl_easy_strerror(rc), detail);
}

int http_do(Http *h, const HttpReq *rq, HttpResp *resp, fql_error *err)
{
    resp_init(resp);
    for (int attempt = 1; ; attempt++) {
        Xfer x = { rq, resp, 0, "", NULL, NULL };
        h->errbuf[0] = 0;
        resp->status = 0;
        buf_clear(&resp->body);
        buf_clear(&resp->head);
        if (rq->sink) {
            fflush(rq->sink);
            if (ftruncate(fileno(rq->sink), 0) == 0) rewind(rq->sink);
        }
        curl_easy_reset(h->c);
        setup(h->c, &x, h->errbuf);
        CURLcode rc = curl_easy_perform(h->c);
        teardown(&x);
        if (rq->sink && rc == CURLE_OK && fflush(rq->sink) != 0) { rc = CURLE_WRITE_ERROR; x.write_failed = errno; }
        if (attempt < rq->policy.attempts && transient(rc, resp->status)) {
            struct timespec ts = { 0, 200000000L << (attempt - 1) };
            while (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
            nanosleep(&ts, NULL);
            continue;
        }
        if (rc != CURLE_OK) {
            note_failure(resp, rc, h->errbuf);
            resp->status = 0;
            return transfer_error(rq, h->errbuf, rc, x.write_failed, err);
        }
        return 0;
    }
}

void http_do_many(const HttpReq *rqs, HttpResp *resps, int n)
{
    if (n <= 0) return;
    http_global_init();
    CURLM *multi = curl_multi_init();
    Xfer *xs = xcalloc((size_t)n, sizeof *xs);
    CURL **hs = xcalloc((size_t)n, sizeof *hs);
    for (int i = 0; i < n; i++) {
        resp_init(&resps[i]);
        xs[i].rq = &rqs[i];
        xs[i].resp = &resps[i];
        hs[i] = curl_easy_init();
        if (!hs[i] || !multi) { note_failure(&resps[i], CURLE_FAILED_INIT, NULL); continue; }
        setup(hs[i], &xs[i], xs[i].errbuf);
        curl_multi_add_handle(multi, hs[i]);
    }
    int running = multi != NULL;
    while (running) {
        curl_multi_perform(multi, &running);
        if (running) curl_multi_poll(multi, NULL, 0, 200, NULL);
    }
    CURLMsg *msg;
    int left;
    while (multi && (msg = curl_multi_info_read(multi, &left)))
        if (msg->msg == CURLMSG_DONE)
            for (int i = 0; i < n; i++)
                if (hs[i] == msg->easy_handle && msg->data.result != CURLE_OK) {
                    note_failure(&resps[i], msg->data.result, xs[i].errbuf);
                    resps[i].status = 0;
                    buf_clear(&resps[i].body);
                }
    for (int i = 0; i < n; i++) {
        if (hs[i] && multi) curl_multi_remove_handle(multi, hs[i]);
        curl_easy_cleanup(hs[i]);
        teardown(&xs[i]);
    }
    if (multi) curl_multi_cleanup(multi);
    free(hs);
    free(xs);
}

int http_status_error(fql_error *err, const char *name, const HttpResp *r, const char *hint)
{
    Buf d;
    buf_init(&d);
    if (r->x_error) buf_printf(&d, " (%s)", r->x_error);
    else if (r->body.data && strstr(r->body.data, "<Error>")) {
        size_t pos = 0;
        char *code = http_xml_text(r->body.data, "Code", &pos);
        pos = 0;
        char *msg = http_xml_text(r->body.data, "Message", &pos);
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

const char *http_hint(long status)
{
    if (status == 404 || status == 410) return "check the URL";
    if (status == 401 || status == 403) return "the server refuses access to this URL";
    if (status >= 500) return "the server failed; try again later";
    return NULL;
}
