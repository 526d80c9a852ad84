/* http.h: the one helper for blocking HTTP fetches (src/io/remote_http.c), and the one place that
 * sets libcurl up (http_global_init). Its users: the remote readers (remote.c, remote_hf.c,
 * remote_s3.c), the Vertex token exchange (vertex_auth.c), the Batch API's control calls
 * (batch.c) and the key checks (models.c). The scheduler's curl multi for model calls (sched.c)
 * and http_get_json's asynchronous transfers (func_http.c) run their own handles, but call
 * http_global_init first. The file knows nothing of the files above it: a request that must be
 * signed (S3's SigV4) hands down a hook.
 *
 * Every transfer verifies TLS (libcurl's default, never turned off) and honours the usual proxy
 * variables (libcurl's default). Ownership: an HttpReq and what it points to are borrowed; an
 * HttpResp is filled by http_do / http_do_many and freed with http_resp_free.
 */
#ifndef FQL_HTTP_H
#define FQL_HTTP_H

#include <stdio.h>
#include <curl/curl.h>
#include "util.h"

/* curl_global_init, exactly once per process (thread-safe). Every user of libcurl calls it before
 * its first handle. */
void http_global_init(void);

/* Sign a request just before it is sent (S3's SigV4): may set options on c and append headers to
 * *headers (computed from the body). */
typedef void (*HttpSign)(const void *ud, CURL *c, const char *body, size_t len, struct curl_slist **headers);

/* One part of a multipart/form-data body (the Batch API's file upload). */
typedef struct HttpPart {
    const char *name;             /* the form field */
    const char *filename, *type;  /* for a file part, else NULL */
    const char *data; size_t len; /* len CURL_ZERO_TERMINATED for a string */
} HttpPart;

/* How a transfer behaves; the zero value is one try with libcurl's defaults. */
typedef struct HttpPolicy {
    long connect_timeout_ms;      /* 0 = libcurl's (300 s) */
    long timeout_ms;              /* the whole transfer; 0 = none */
    long stall_s;                 /* give up when no byte arrives for this long; 0 = never */
    int follow;                   /* follow up to 10 redirects */
    int attempts;                 /* tries when a failure is transient (resets, 429, 5xx); <= 1 = one */
    size_t max_body;              /* a longer body fails the transfer; 0 = no cap */
    const char *user_agent;       /* NULL = none */
    int no_expect;                /* send no "Expect: 100-continue" with a body */
} HttpPolicy;

/* The remote readers' policy: redirects followed, FQL_REMOTE_TIMEOUT seconds without data
 * (default 60) abort, transient failures retried 4 times in all. */
HttpPolicy http_reader_policy(void);

typedef struct HttpReq {
    const char *method;           /* NULL = GET (POST when body or parts are set); "HEAD", "PUT", "POST", "DELETE" */
    const char *url;
    const char *name;             /* what errors call the resource (no secrets); NULL = the URL */
    const struct curl_slist *headers;   /* extra request headers */
    const char *body;             /* PUT/POST body or NULL */
    size_t body_len;
    const char *content_type;     /* of body when no header sets it; NULL = application/octet-stream */
    const HttpPart *parts; int nparts;  /* a multipart/form-data body instead */
    FILE *sink;                   /* a 2xx body goes here; NULL = into HttpResp.body */
    HttpSign sign; const void *sign_ud;   /* NULL = unsigned */
    HttpPolicy policy;
} HttpReq;

typedef struct HttpResp {
    long status;                  /* 0 when no answer arrived */
    char reason[64];              /* the status line's reason phrase ("Not Found") */
    Buf body;                     /* the body when there is no sink, and every error body (first 64 KB) */
    Buf head;                     /* the final response's raw header block ("Name: value\r\n...") */
    char *etag, *last_modified;   /* of the final response, or NULL */
    char *link_next;              /* Link: <...>; rel="next" */
    char *x_error;                /* the Hub's X-Error-Message */
    char *region;                 /* S3's x-amz-bucket-region */
    int failed;                   /* CURLcode of a transfer that got no answer, else 0 */
    char error[CURL_ERROR_SIZE];  /* then libcurl's detailed message */
} HttpResp;

/* A reusable connection (one libcurl easy handle). */
typedef struct Http Http;
Http *http_new(void);              /* NULL when libcurl cannot start */
void  http_free(Http *h);          /* NULL-safe */
/* Perform rq. Returns 0 when a response arrived (any status: the caller decides), -1 with err
 * filled ("NAME: cannot connect (...); check the URL and the network", ...) and resp->failed set
 * when none did. resp is initialized here. */
int   http_do(Http *h, const HttpReq *rq, HttpResp *resp, fql_error *err);
/* Perform n requests at once (one libcurl multi), each tried once; resps[i] as http_do fills it
 * (resps[i].failed and .error say why one got no answer). */
void  http_do_many(const HttpReq *rqs, HttpResp *resps, int n);
void  http_resp_free(HttpResp *r);
/* Fill err with "NAME: HTTP 404 Not Found[ (detail)]; hint", the detail from the Hub's error
 * header or an S3 XML error body. Returns -1. */
int   http_status_error(fql_error *err, const char *name, const HttpResp *r, const char *hint);
/* The hint for a failed plain http(s) fetch ("check the URL"), or NULL. */
const char *http_hint(long status);

/* Percent-encode s as AWS and the Hub expect: unreserved bytes (A-Z a-z 0-9 - _ . ~) stay, and
 * '/' too when keep_slash; everything else is %XX. Appends to b. */
void  http_url_encode(Buf *b, const char *s, int keep_slash);
/* SHA-256 hex of data (payload hashes, cache keys). out has 65 bytes. */
void  http_sha256_hex(const void *data, size_t n, char out[65]);
/* The text of the first <tag>...</tag> at or after *pos in xml (S3's answers), entities decoded;
 * *pos moves past it. NULL when absent. New string. */
char *http_xml_text(const char *xml, const char *tag, size_t *pos);

#endif
