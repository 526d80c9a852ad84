/* vertex_auth.c: Vertex AI's OAuth2 access token, obtained before any request is built (the
 * adapter, provider_gemini.c, only reads m->access_token): GOOGLE_ACCESS_TOKEN as it is, else the
 * service-account file named by GOOGLE_APPLICATION_CREDENTIALS, whose RS256-signed JWT is
 * exchanged at its token_uri through the blocking HTTP helper (http.h). Called when a request is
 * about to be submitted (route.c), when keys are checked (models.c) and, for now, by the scheduler
 * before it builds each request (sched.c); a token valid for 5 more minutes is reused without I/O.
 * Below the adapters' layer: it calls only provider_wire.c and the HTTP helper.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include "http.h"
#include "provider_wire.h"

/* base64url of p[0..n) without padding, as JWTs spell it. New string. */
static char *b64url(const unsigned char *p, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = xmalloc(n / 3 * 4 + 5), *o = out;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *o++ = tbl[v >> 18 & 63]; *o++ = tbl[v >> 12 & 63]; *o++ = tbl[v >> 6 & 63]; *o++ = tbl[v & 63];
    }
    if (i + 1 == n) {
        unsigned v = (unsigned)p[i] << 16;
        *o++ = tbl[v >> 18 & 63]; *o++ = tbl[v >> 12 & 63];
    } else if (i + 2 == n) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        *o++ = tbl[v >> 18 & 63]; *o++ = tbl[v >> 12 & 63]; *o++ = tbl[v >> 6 & 63];
    }
    *o = 0;
    return out;
}

/* An RS256 JWT "header.claims.signature" signed with the PEM private key, or NULL with *err. */
static char *sign_jwt(const char *pem, json_t *header, json_t *claims, char **err)
{
    char *h = json_dumps(header, JSON_COMPACT), *c = json_dumps(claims, JSON_COMPACT);
    char *hb = b64url((const unsigned char *)h, strlen(h)), *cb = b64url((const unsigned char *)c, strlen(c));
    free(h);
    free(c);
    char *input = xasprintf("%s.%s", hb, cb), *jwt = NULL;
    free(hb);
    free(cb);
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t siglen = 0;
    unsigned char *sig = NULL;
    if (!key) *err = xasprintf("the service-account file's private_key is not a PEM private key");
    else if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
             EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)input, strlen(input)) != 1 ||
             !(sig = xmalloc(siglen)) ||
             EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1)
        *err = xasprintf("cannot sign the service-account JWT with OpenSSL");
    else {
        char *sb = b64url(sig, siglen);
        jwt = xasprintf("%s.%s", input, sb);
        free(sb);
    }
    free(sig);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    BIO_free(bio);
    free(input);
    return jwt;
}

/* POST the signed JWT to token_uri (the blocking HTTP helper: 30 s in all, an answer over 1 MB is
 * refused); on success the token and its lifetime in seconds. */
static int exchange_jwt(const char *token_uri, const char *jwt, char **token, double *expires_in, char **err)
{
    Http *h = http_new();
    if (!h) {
        *err = xasprintf("cannot start libcurl");
        return -1;
    }
    char *form = xasprintf("grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Ajwt-bearer&assertion=%s", jwt);
    HttpReq rq = { .method = "POST", .url = token_uri, .body = form, .body_len = strlen(form),
                   .content_type = "application/x-www-form-urlencoded" };
    rq.policy.timeout_ms = 30000;
    rq.policy.max_body = 1u << 20;   /* a token answer is small; stop a runaway body */
    HttpResp resp;
    http_do(h, &rq, &resp, NULL);
    http_free(h);
    free(form);
    int ret = -1;
    json_t *root = body_json(resp.body.data, resp.body.len);
    if (resp.failed) {
        *err = xasprintf("cannot reach the token endpoint %s: %s", token_uri, curl_easy_strerror((CURLcode)resp.failed));
    } else if (resp.status != 200 || !jstr(root, "access_token")) {
        const char *d = jstr(root, "error_description");
        const char *e = jstr(root, "error");
        char *ex = body_excerpt(resp.body.data, resp.body.len, 200);
        *err = xasprintf("the token endpoint %s refused the service-account JWT (HTTP %ld): %s",
                         token_uri, resp.status, d ? d : e ? e : ex);
        free(ex);
    } else {
        *token = xstrdup(jstr(root, "access_token"));
        *expires_in = jnum(root, "expires_in", 3600);
        ret = 0;
    }
    json_decref(root);
    http_resp_free(&resp);
    return ret;
}

int vertex_access_token(LmModel *m, char **token, char **err)
{
    *err = NULL;
    if (token) *token = NULL;
    double now = now_unix();
    int valid = m->access_token && (m->token_expiry == 0 || m->token_expiry - now > 300);
    if (!valid && m->api_key && *m->api_key) {   /* GOOGLE_ACCESS_TOKEN: used as it is */
        free(m->access_token);
        m->access_token = xstrdup(m->api_key);
        m->token_expiry = 0;
        valid = 1;
    }
    if (!valid) {
        const char *path = getenv("GOOGLE_APPLICATION_CREDENTIALS");
        if (!path || !*path) {
            *err = xasprintf("Vertex AI needs GOOGLE_ACCESS_TOKEN or GOOGLE_APPLICATION_CREDENTIALS (a service-account key file)");
            return -1;
        }
        json_error_t je;
        json_t *sa = json_load_file(path, 0, &je);
        const char *email = jstr(sa, "client_email"), *pem = jstr(sa, "private_key");
        const char *uri = jstr(sa, "token_uri") ? jstr(sa, "token_uri") : "https://oauth2.googleapis.com/token";
        if (!sa) {
            *err = xasprintf("cannot read the service-account file %s (GOOGLE_APPLICATION_CREDENTIALS): %s", path, je.text);
            return -1;
        }
        if (!email || !pem) {
            json_decref(sa);
            *err = xasprintf("the service-account file %s (GOOGLE_APPLICATION_CREDENTIALS) lacks client_email or private_key", path);
            return -1;
        }
        json_int_t iat = (json_int_t)now;
        json_t *hdr = json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
        if (jstr(sa, "private_key_id")) json_object_set_new(hdr, "kid", json_string(jstr(sa, "private_key_id")));
        json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", email,
                                   "scope", "https://www.googleapis.com/auth/cloud-platform", "aud", uri,
                                   "iat", iat, "exp", iat + 3600);
        char *jwt = sign_jwt(pem, hdr, claims, err);
        json_decref(hdr);
        json_decref(claims);
        char *tok = NULL;
        double life = 0;
        int rc = jwt ? exchange_jwt(uri, jwt, &tok, &life, err) : -1;
        free(jwt);
        json_decref(sa);
        if (rc) return -1;
        free(m->access_token);
        m->access_token = tok;
        m->token_expiry = now + (life > 0 ? life : 3600);
    }
    if (token) *token = xstrdup(m->access_token);
    return 0;
}
