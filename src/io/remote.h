/* remote.h: what remote.c, remote_hf.c and remote_s3.c share (not used outside src/io/ except by
 * the unit tests).
 *
 * Layers (each file calls only those after it): reader.c (the reader wrapper that names URLs in
 * errors) → remote.c (fetching into local files, the download cache, uploads) → remote_hf.c (hf://
 * paths into Hub URLs, dataset listings), remote_s3.c (addressing, listing, signing and uploading
 * S3 objects) → remote_http.c (the HTTP helper, http.h) and glob.c (io_glob_match, NameList).
 *
 * Secrets (HF_TOKEN, AWS keys and session tokens, passwords in URLs) go only into request headers
 * or libcurl's credential options: they never reach a display name, an error, or the cache.
 */
#ifndef FQL_REMOTE_H
#define FQL_REMOTE_H

#include <curl/curl.h>
#include "io_int.h"
#include "http.h"

typedef struct S3Auth S3Auth;

/* ---- paths ---- */

/* An http(s) URL as shown to users: no user:password@, and the values of query parameters that
 * look secret (signature, token, key, credential, password) replaced by "REDACTED". New string. */
char *remote_display_url(const char *url);

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
int   hf_list(Http *h, const HfPath *p, NameList *l, fql_error *err);
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
/* The HttpSign hook of a request signed with auth (a const S3Auth *): s3_sign_headers and
 * s3_setup_handle, when auth has credentials. */
void  s3_sign(const void *auth, CURL *c, const char *body, size_t len, struct curl_slist **headers);
/* The keys of the bucket matching the glob p->key, sorted. 0 ok, -1 error. */
int   s3_list(Http *h, const S3Auth *a, const S3Path *p, NameList *l, fql_error *err);
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

#endif
