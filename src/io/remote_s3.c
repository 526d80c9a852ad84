/* remote_s3.c: s3://BUCKET/KEY objects: addressing, listing (ListObjectsV2), signing, uploading.
 *
 * Addressing: with AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (an S3-compatible store), path-style
 * ENDPOINT/BUCKET/KEY; otherwise AWS's virtual-hosted https://BUCKET.s3.REGION.amazonaws.com/KEY
 * (path-style for bucket names with dots, which TLS certificates do not cover). REGION is
 * AWS_REGION, AWS_DEFAULT_REGION or us-east-1.
 *
 * Signing: libcurl's CURLOPT_AWS_SIGV4 ("aws:amz:REGION:s3") with AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY; AWS_SESSION_TOKEN goes in x-amz-security-token, which libcurl signs with
 * the other x-amz headers. Without credentials requests go unsigned (public buckets). libcurl
 * 7.88 signs the path and query as they are written, so every URL here is built canonical: keys
 * encoded byte by byte as SigV4 wants, query parameters sorted by name. It also hashes the body
 * itself, and S3 wants that hash in x-amz-content-sha256 too: s3_sign_headers adds it.
 *
 * Uploads: objects up to PART_SIZE go in one PUT; larger ones in a multipart upload of PART_SIZE
 * parts (S3's minimum is 5 MiB), aborted when any step fails so no parts are left behind.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "remote.h"

#define PART_SIZE (8u << 20)

int s3_parse(const char *url, S3Path *p, fql_error *err)
{
    const char *s = url + 5;
    size_t bl = strcspn(s, "/");
    if (bl == 0) return err_set(err, FQL_ERR_IO, "%s: expected s3://BUCKET/KEY", url);
    p->bucket = xstrndup(s, bl);
    p->key = xstrdup(s[bl] ? s + bl + 1 : "");
    return 0;
}

void s3_path_free(S3Path *p)
{
    free(p->bucket);
    free(p->key);
    p->bucket = p->key = NULL;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static const char *region(void)
{
    const char *r = env("AWS_REGION");
    if (!r) r = env("AWS_DEFAULT_REGION");
    return r ? r : "us-east-1";
}

int s3_auth_init(S3Auth *a, fql_error *err)
{
    memset(a, 0, sizeof *a);
    const char *id = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
    if (!id != !secret)
        return err_set(err, FQL_ERR_IO, "%s is set but %s is not; set both for signed S3 requests, or neither for a public bucket",
                       id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY", id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
    if (!id) return 0;
    a->userpwd = xasprintf("%s:%s", id, secret);
    a->sigv4 = xasprintf("aws:amz:%s:s3", region());
    if (env("AWS_SESSION_TOKEN")) a->token = xstrdup(env("AWS_SESSION_TOKEN"));
    return 0;
}

static void wipe_free(char *s)
{
    if (s) memset(s, 0, strlen(s));
    free(s);
}

void s3_auth_free(S3Auth *a)
{
    wipe_free(a->userpwd);
    wipe_free(a->token);
    free(a->sigv4);
    free(a->date);
    memset(a, 0, sizeof *a);
}

char *s3_url(const char *bucket, const char *key, const char *query)
{
    Buf b;
    buf_init(&b);
    const char *ep = env("AWS_ENDPOINT_URL_S3");
    if (!ep) ep = env("AWS_ENDPOINT_URL");
    if (ep) {
        size_t n = strlen(ep);
        while (n > 0 && ep[n - 1] == '/') n--;
        buf_append(&b, ep, n);
        buf_putc(&b, '/');
        http_url_encode(&b, bucket, 0);
        buf_putc(&b, '/');
    } else if (strchr(bucket, '.')) {
        buf_printf(&b, "https://s3.%s.amazonaws.com/", region());
        http_url_encode(&b, bucket, 0);
        buf_putc(&b, '/');
    } else
        buf_printf(&b, "https://%s.s3.%s.amazonaws.com/", bucket, region());
    if (key) http_url_encode(&b, key, 1);
    if (query && *query) { buf_putc(&b, '?'); buf_puts(&b, query); }
    return buf_take(&b);
}

void s3_sign_headers(const S3Auth *a, const char *body, size_t len, struct curl_slist **list)
{
    char sha[65], line[128];
    http_sha256_hex(body ? body : "", body ? len : 0, sha);
    snprintf(line, sizeof line, "x-amz-content-sha256: %s", sha);
    *list = curl_slist_append(*list, line);
    if (a->token) {
        char *t = xasprintf("x-amz-security-token: %s", a->token);
        *list = curl_slist_append(*list, t);
        wipe_free(t);
    }
    if (a->date) {
        snprintf(line, sizeof line, "X-Amz-Date: %s", a->date);
        *list = curl_slist_append(*list, line);
    }
}

void s3_setup_handle(CURL *c, const S3Auth *a)
{
    if (!a->userpwd) return;
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, a->sigv4);
    curl_easy_setopt(c, CURLOPT_USERPWD, a->userpwd);
}

void s3_sign(const void *auth, CURL *c, const char *body, size_t len, struct curl_slist **headers)
{
    const S3Auth *a = auth;
    if (!a || !a->userpwd) return;
    s3_sign_headers(a, body, len, headers);
    s3_setup_handle(c, a);
}

const char *s3_hint(const S3Auth *a, const HttpResp *r, char buf[200])
{
    if (r->region && strcmp(r->region, region())) {
        snprintf(buf, 200, "the bucket is in region %.64s: set AWS_REGION=%.64s", r->region, r->region);
        return buf;
    }
    if (r->status == 401 || r->status == 403)
        return a->userpwd ? "check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) and the bucket's policy"
                          : "the bucket is not public: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
    if (r->status == 404) return "check the bucket and key";
    if (r->status >= 500) return "S3 failed; try again later";
    return NULL;
}

/* One request to the object (or bucket) with a query; the response is the caller's to free. */
static int s3_call(Http *h, const S3Auth *a, const char *method, const S3Path *p, const char *key,
                   const char *query, const char *body, size_t len, HttpResp *resp, fql_error *err)
{
    char *url = s3_url(p->bucket, key, query);
    char *name = xasprintf("s3://%s/%s", p->bucket, key ? key : "");
    struct curl_slist *hdrs = body ? curl_slist_append(NULL, "Content-Type: application/octet-stream") : NULL;
    HttpReq rq = { .method = method, .url = url, .name = name, .headers = hdrs, .body = body, .body_len = len,
                   .sign = s3_sign, .sign_ud = a, .policy = http_reader_policy() };
    int rc = http_do(h, &rq, resp, err);
    char hint[200];
    if (rc == 0 && (resp->status < 200 || resp->status >= 300)) rc = http_status_error(err, name, resp, s3_hint(a, resp, hint));
    curl_slist_free_all(hdrs);
    free(name);
    free(url);
    if (rc < 0) http_resp_free(resp);
    return rc;
}

int s3_list(Http *h, const S3Auth *a, const S3Path *p, NameList *l, fql_error *err)
{
    size_t plen = strcspn(p->key, "*?[");
    char *prefix = xstrndup(p->key, plen);
    char *token = NULL;
    int rc = 0;
    do {
        Buf q;
        buf_init(&q);
        if (token) { buf_puts(&q, "continuation-token="); http_url_encode(&q, token, 0); buf_putc(&q, '&'); }
        buf_puts(&q, "list-type=2&prefix=");
        http_url_encode(&q, prefix, 0);
        HttpResp resp;
        rc = s3_call(h, a, NULL, p, NULL, q.data, NULL, 0, &resp, err);
        buf_free(&q);
        free(token);
        token = NULL;
        if (rc < 0) break;
        const char *xml = resp.body.data ? resp.body.data : "";
        size_t pos = 0;
        for (char *c; (c = http_xml_text(xml, "Contents", &pos)); free(c)) {
            size_t kp = 0;
            char *key = http_xml_text(c, "Key", &kp);
            if (key && io_glob_match(p->key, key)) io_names_add(l, key);
            free(key);
        }
        pos = 0;
        char *trunc = http_xml_text(xml, "IsTruncated", &pos);
        pos = 0;
        if (trunc && !strcmp(trunc, "true")) token = http_xml_text(xml, "NextContinuationToken", &pos);
        if (trunc && !strcmp(trunc, "true") && !token)
            rc = err_set(err, FQL_ERR_IO, "s3://%s/%s: the listing is truncated but has no NextContinuationToken", p->bucket, prefix);
        free(trunc);
        http_resp_free(&resp);
    } while (token && rc == 0);
    free(token);
    free(prefix);
    io_names_sort(l);
    return rc;
}

int s3_exists(Http *h, const S3Auth *a, const S3Path *p, fql_error *err)
{
    char *url = s3_url(p->bucket, p->key, NULL);
    char *name = xasprintf("s3://%s/%s", p->bucket, p->key);
    HttpReq rq = { .method = "HEAD", .url = url, .name = name, .sign = s3_sign, .sign_ud = a,
                   .policy = http_reader_policy() };
    HttpResp resp;
    int rc = http_do(h, &rq, &resp, err);
    if (rc == 0) {
        if (resp.status >= 200 && resp.status < 300) rc = 1;
        else if (resp.status == 404 || resp.status == 403) rc = 0;   /* 403: not visible to us; the PUT decides */
        else {
            char hint[200];
            rc = http_status_error(err, name, &resp, s3_hint(a, &resp, hint));
        }
    }
    http_resp_free(&resp);
    free(name);
    free(url);
    return rc;
}

static int read_part(FILE *f, char *buf, size_t want, size_t *got, const char *local, fql_error *err)
{
    *got = fread(buf, 1, want, f);
    if (*got < want && ferror(f)) return err_set(err, FQL_ERR_IO, "cannot read %s: %s", local, strerror(errno));
    return 0;
}

static int multipart(Http *h, const S3Auth *a, const S3Path *p, FILE *f, const char *local, fql_error *err)
{
    HttpResp resp;
    if (s3_call(h, a, "POST", p, p->key, "uploads=", "", 0, &resp, err) < 0) return -1;
    size_t pos = 0;
    char *id = http_xml_text(resp.body.data ? resp.body.data : "", "UploadId", &pos);
    http_resp_free(&resp);
    if (!id) return err_set(err, FQL_ERR_IO, "s3://%s/%s: CreateMultipartUpload returned no UploadId", p->bucket, p->key);
    Buf idq, done;
    buf_init(&idq);
    buf_init(&done);
    http_url_encode(&idq, id, 0);
    buf_puts(&done, "<CompleteMultipartUpload>");
    char *part = xmalloc(PART_SIZE);
    int rc = 0;
    for (int n = 1; rc == 0; n++) {
        size_t got;
        if ((rc = read_part(f, part, PART_SIZE, &got, local, err)) < 0 || (got == 0 && n > 1)) break;
        char *q = xasprintf("partNumber=%d&uploadId=%s", n, idq.data);
        rc = s3_call(h, a, "PUT", p, p->key, q, part, got, &resp, err);
        free(q);
        if (rc < 0) break;
        if (!resp.etag) rc = err_set(err, FQL_ERR_IO, "s3://%s/%s: part %d was stored without an ETag", p->bucket, p->key, n);
        else buf_printf(&done, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", n, resp.etag);
        http_resp_free(&resp);
        if (got < PART_SIZE) break;
    }
    free(part);
    buf_puts(&done, "</CompleteMultipartUpload>");
    char *q = xasprintf("uploadId=%s", idq.data);
    if (rc == 0 && s3_call(h, a, "POST", p, p->key, q, done.data, done.len, &resp, err) == 0) {
        /* S3 may answer 200 and still fail the completion, with an <Error> body */
        if (resp.body.data && strstr(resp.body.data, "<Error>")) {
            char *name = xasprintf("s3://%s/%s", p->bucket, p->key);
            rc = http_status_error(err, name, &resp, "completing the multipart upload failed");
            free(name);
        }
        http_resp_free(&resp);
    } else rc = -1;
    if (rc < 0) {
        fql_error ignored;
        memset(&ignored, 0, sizeof ignored);
        if (s3_call(h, a, "DELETE", p, p->key, q, NULL, 0, &resp, &ignored) == 0) http_resp_free(&resp);
    }
    free(q);
    free(id);
    buf_free(&idq);
    buf_free(&done);
    return rc;
}

int s3_upload(Http *h, const S3Auth *a, const S3Path *p, const char *local, fql_error *err)
{
    FILE *f = fopen(local, "rb");
    if (!f) return err_set(err, FQL_ERR_IO, "cannot read %s: %s", local, strerror(errno));
    struct stat st;
    int rc;
    if (fstat(fileno(f), &st) == 0 && (size_t)st.st_size > PART_SIZE) rc = multipart(h, a, p, f, local, err);
    else {
        size_t got;
        char *body = xmalloc(PART_SIZE + 1);
        rc = read_part(f, body, PART_SIZE, &got, local, err);
        HttpResp resp;
        if (rc == 0 && (rc = s3_call(h, a, "PUT", p, p->key, NULL, body, got, &resp, err)) == 0) http_resp_free(&resp);
        free(body);
    }
    fclose(f);
    return rc;
}
