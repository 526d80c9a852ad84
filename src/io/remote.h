/* remote.h: what remote.c, remote_hf.c and remote_s3.c share (not used outside src/io/ except by
 * the unit tests).
 *
 * remote.c holds the HTTP client (one libcurl easy handle per fetch, retries, timeouts, error
 * messages), the download cache and the reader wrapper; remote_hf.c turns hf:// paths into Hub
 * URLs and lists datasets; remote_s3.c addresses, lists, signs and uploads S3 objects.
 *
 * Secrets (HF_TOKEN, AWS keys and session tokens, passwords in URLs) go only into request headers
 * or libcurl's credential options: they never reach a display name, an error, or the cache.
 */
#ifndef FQL_REMOTE_H
#define FQL_REMOTE_H

#include <curl/curl.h>
#include "io_int.h"

/* ---- HTTP ---- */

typedef struct S3Auth S3Auth;

typedef struct HttpReq {
    const char *method;           /* NULL = GET; "HEAD", "PUT", "POST", "DELETE" */
    const char *url;
    const char *name;             /* what errors call the resource (no secrets) */
    struct curl_slist *headers;   /* extra request headers (borrowed) */
    const char *body;             /* PUT/POST body (borrowed) or NULL */
    size_t body_len;
    FILE *sink;                   /* a 2xx body goes here; NULL = into HttpResp.body */
    const S3Auth *s3;             /* sign with SigV4 (NULL = unsigned) */
} HttpReq;

typedef struct HttpResp {
    long status;
    char reason[64];              /* the status line's reason phrase ("Not Found") */
    Buf body;                     /* the body when there is no sink, and every error body (first 64 KB) */
    char *etag, *last_modified;   /* of the final response, or NULL */
    char *link_next;              /* Link: <...>; rel="next" */
    char *x_error;                /* the Hub's X-Error-Message */
    char *region;                 /* S3's x-amz-bucket-region */
} HttpResp;

typedef struct Http Http;
Http *http_new(void);
void  http_free(Http *h);          /* NULL-safe */
/* Perform rq (retrying transient failures: connection resets, 429 and 5xx). Returns 0 when a
 * response arrived (any status: the caller decides), -1 with err filled when none did. resp is
 * initialized here; free it with http_resp_free. */
int   http_do(Http *h, const HttpReq *rq, HttpResp *resp, fql_error *err);
void  http_resp_free(HttpResp *r);
/* Fill err with "NAME: HTTP 404 Not Found[ (detail)]; hint", the detail from the Hub's error
 * header or an S3 XML error body. Returns -1. */
int   http_status_error(fql_error *err, const char *name, const HttpResp *r, const char *hint);

/* ---- paths ---- */

/* Glob match of a whole '/'-separated path: `*`, `?`, `[..]` within one component, `**` for any
 * number of components. 1 on match. */
int   remote_glob_match(const char *pattern, const char *path);
int   remote_has_magic(const char *s);
/* Percent-encode s as AWS and the Hub expect: unreserved bytes (A-Z a-z 0-9 - _ . ~) stay, and
 * '/' too when keep_slash; everything else is %XX. Appends to b. */
void  remote_url_encode(Buf *b, const char *s, int keep_slash);
/* An http(s) URL as shown to users: no user:password@, and the values of query parameters that
 * look secret (signature, token, key, credential, password) replaced by "REDACTED". New string. */
char *remote_display_url(const char *url);

/* A listing: the names that matched a glob. */
typedef struct RemoteList { char **names; int n, cap; } RemoteList;
void  remote_list_add(RemoteList *l, const char *name);
void  remote_list_sort(RemoteList *l);     /* sorted by bytes, duplicates dropped */
void  remote_list_free(RemoteList *l);

/* ---- Hugging Face Hub (remote_hf.c) ---- */

typedef struct HfPath {
    char *owner_name;     /* "OWNER/NAME" */
    char *revision;       /* "main" unless @REV was given (percent-decoded) */
    char *path;           /* the file or glob inside the repository */
} HfPath;
/* Parse hf://datasets/OWNER/NAME[@REV]/PATH. -1 with err filled on a malformed path. */
int   hf_parse(const char *url, HfPath *p, fql_error *err);
void  hf_path_free(HfPath *p);
/* The endpoint (HF_ENDPOINT or https://huggingface.co, no trailing slash). New string. */
char *hf_endpoint(void);
/* The resolve URL of file in the dataset. New string. */
char *hf_resolve_url(const HfPath *p, const char *file);
/* "hf://datasets/OWNER/NAME[@REV]/FILE". New string. */
char *hf_display(const HfPath *p, const char *file);
/* Header list with the Authorization of HF_TOKEN (NULL when unset). */
struct curl_slist *hf_auth_headers(void);
/* The dataset files matching p->path (a glob), sorted. 0 ok (l->n may be 0), -1 error. */
int   hf_list(Http *h, const HfPath *p, RemoteList *l, fql_error *err);
/* A hint for a failed Hub request. */
const char *hf_hint(long status);

/* ---- S3 (remote_s3.c) ---- */

struct S3Auth {
    char *userpwd;        /* "KEY:SECRET" for CURLOPT_USERPWD, or NULL for unsigned requests */
    char *sigv4;          /* "aws:amz:REGION:s3" */
    char *token;          /* AWS_SESSION_TOKEN or NULL */
    char *date;           /* fixed X-Amz-Date for tests, or NULL for now */
};

typedef struct S3Path {
    char *bucket;
    char *key;            /* the key or glob (may be empty) */
} S3Path;
int   s3_parse(const char *url, S3Path *p, fql_error *err);
void  s3_path_free(S3Path *p);
/* Credentials and region from the environment; auth->userpwd is NULL when none are set. */
int   s3_auth_init(S3Auth *a, fql_error *err);   /* -1 when only half the credentials are set */
void  s3_auth_free(S3Auth *a);
/* The URL of key in bucket (key NULL = the bucket itself), query appended as given (it must be
 * canonical: sorted by name and encoded). Path-style under AWS_ENDPOINT_URL, virtual-hosted on AWS.
 * New string. */
char *s3_url(const char *bucket, const char *key, const char *query);
/* Headers every signed request carries: x-amz-content-sha256 (of body), the session token, the
 * fixed date of tests. Appends to *list. */
void  s3_sign_headers(const S3Auth *a, const char *body, size_t len, struct curl_slist **list);
/* Configure the easy handle to sign with SigV4 (no-op for unsigned auth). */
void  s3_setup_handle(CURL *c, const S3Auth *a);
/* The keys of the bucket matching the glob p->key, sorted. 0 ok, -1 error. */
int   s3_list(Http *h, const S3Auth *a, const S3Path *p, RemoteList *l, fql_error *err);
/* A hint for a failed S3 request (may be written into buf). */
const char *s3_hint(const S3Auth *a, const HttpResp *r, char buf[200]);
/* Upload the local file to s3://bucket/key: one PUT up to the part size, a multipart upload
 * beyond (aborted when a part fails). 0 ok, -1 error. */
int   s3_upload(Http *h, const S3Auth *a, const S3Path *p, const char *local, fql_error *err);
/* 1 when the object exists, 0 when not (or not visible), -1 on error. */
int   s3_exists(Http *h, const S3Auth *a, const S3Path *p, fql_error *err);

/* ---- writing (remote.c) ---- */

/* A write to a remote target: the writer fills a local staging file, finish uploads it. Only s3://
 * targets can be written; open checks the mode (append is refused; error mode fails when the
 * object exists). */
typedef struct RemoteUpload RemoteUpload;
RemoteUpload *remote_upload_open(const char *url, WriteMode mode, fql_error *err);
const char   *remote_upload_local(const RemoteUpload *u);
int           remote_upload_finish(RemoteUpload *u, fql_error *err);   /* 0 ok, -1 error */
void          remote_upload_free(RemoteUpload *u);                     /* removes the staging file; NULL-safe */

/* SHA-256 hex of data. out has 65 bytes. */
void  remote_sha256_hex(const void *data, size_t n, char out[65]);
/* The text of the first <tag>...</tag> at or after *pos in xml, entities decoded; *pos moves past
 * it. NULL when absent. New string. */
char *remote_xml_text(const char *xml, const char *tag, size_t *pos);

#endif
