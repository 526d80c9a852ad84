/* func_http.c: HTTP functions.
 *
 * http_get_json(url [, max_concurrency: 10, timeout: 5, retries: 2]) GETs each row's url and
 * returns the answer's JSON. It is an asynchronous function (FUNC_ASYNC): udf.c's driver starts
 * up to max_concurrency transfers at once on one libcurl multi handle per session and runs that
 * handle's event loop (`pump`) while it waits, so rows stay in order and every call honours the
 * timeout and retries like an asynchronous UDF. A transport error, a timeout, HTTP 408, 425, 429
 * or 5xx is retried; any other non-2xx answer or a body that is not JSON fails the row at once.
 * A failed row is null and system.lm_errors says why. Messages name the URL without its query
 * string, which may hold a key. Asynchronous, so not the blocking HTTP helper's fetch (http.h),
 * but libcurl is set up through it (http_global_init).
 */
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <jansson.h>
#include "func.h"
#include "http.h"
#include "udf.h"

#define MAX_BODY (64u << 20)     /* a larger answer fails the row rather than exhaust memory */

typedef struct Transfer {
    CURL *h;
    fql_call *call;
    char *where;                 /* scheme://host/path, for messages */
    Buf body;
    char errbuf[CURL_ERROR_SIZE];
    struct Transfer *prev, *next;
} Transfer;

/* One session's transfers in flight (the hub's state). */
typedef struct HttpLoop { CURLM *multi; Transfer *list; } HttpLoop;

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    Transfer *t = ud;
    if (t->body.len + size * n > MAX_BODY) return 0;   /* libcurl then fails the transfer */
    buf_append(&t->body, data, size * n);
    return size * n;
}

/* The URL as messages show it: no query string or fragment (they may carry a key). */
static char *url_for_messages(const char *url, size_t len)
{
    size_t n = strcspn(url, "?#");
    return xstrndup(url, n < len ? n : len);
}

static void transfer_free(HttpLoop *l, Transfer *t)
{
    curl_multi_remove_handle(l->multi, t->h);
    curl_easy_cleanup(t->h);
    if (t->prev) t->prev->next = t->next; else l->list = t->next;
    if (t->next) t->next->prev = t->prev;
    buf_free(&t->body);
    free(t->where);
    free(t);
}

static int retryable_status(long st) { return st == 408 || st == 425 || st == 429 || st >= 500; }

/* A transfer ended: complete its call with the JSON, or with why it failed. */
static void finish(HttpLoop *l, Transfer *t, CURLcode res)
{
    long status = 0;
    curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &status);
    fql_call *c = t->call;
    if (res != CURLE_OK) {
        char *m = xasprintf("GET %s: %s", t->where, t->errbuf[0] ? t->errbuf : curl_easy_strerror(res));
        fql_call_error(c, 1, m);
        free(m);
    } else if (status < 200 || status > 299) {
        char *m = xasprintf("GET %s: HTTP %ld", t->where, status);
        fql_call_error(c, retryable_status(status), m);
        free(m);
    } else {
        json_error_t je;
        json_t *j = json_loadb(t->body.data ? t->body.data : "", t->body.len, JSON_DECODE_ANY, &je);
        if (j) {
            fql_value v;
            v.type = FQL_TYPE_JSON;
            v.as.s.ptr = t->body.data;
            v.as.s.len = t->body.len;
            json_decref(j);
            fql_call_return(c, &v);
        } else {
            char *m = xasprintf("GET %s: the answer is not JSON (%s at byte %d)", t->where, je.text, je.position);
            fql_call_error(c, 0, m);
            free(m);
        }
    }
    transfer_free(l, t);
}

static int get_start(void *ud, const fql_value *args, size_t nargs, fql_call *call, fql_error *err)
{
    HttpLoop *l = ud;
    if (nargs < 1 || args[0].type == FQL_TYPE_NULL) { fql_call_return(call, NULL); return 0; }
    if (args[0].type != FQL_TYPE_STRING) return err_set(err, -1, "http_get_json: url must be a string");
    char *url = xstrndup(args[0].as.s.ptr, args[0].as.s.len);
    Transfer *t = xcalloc(1, sizeof *t);
    t->call = call;
    t->where = url_for_messages(url, strlen(url));
    buf_init(&t->body);
    t->h = curl_easy_init();
    if (!t->h) { free(url); free(t->where); free(t); return err_set(err, FQL_ERR_NOMEM, "http_get_json: out of memory"); }
    curl_easy_setopt(t->h, CURLOPT_URL, url);
    free(url);
    curl_easy_setopt(t->h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(t->h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(t->h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(t->h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(t->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t->h, CURLOPT_USERAGENT, "fql/" FQL_VERSION);
    curl_easy_setopt(t->h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(t->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(t->h, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(t->h, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(t->h, CURLOPT_PRIVATE, t);
    double timeout = udf_call_timeout(call);
    /* a little later than the driver's deadline, so that the row's reason says "timeout" */
    if (timeout > 0) curl_easy_setopt(t->h, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000 + 250));
    t->next = l->list;
    if (l->list) l->list->prev = t;
    l->list = t;
    if (curl_multi_add_handle(l->multi, t->h) != CURLM_OK) {
        t->call = NULL;
        transfer_free(l, t);
        return err_set(err, FQL_ERR_RUNTIME, "http_get_json: libcurl refused the transfer");
    }
    return 0;
}

/* Run the transfers for up to wait_s seconds; complete those that end. */
static void get_pump(void *ud, double wait_s)
{
    HttpLoop *l = ud;
    int running = 0;
    curl_multi_perform(l->multi, &running);
    if (running) curl_multi_poll(l->multi, NULL, 0, (int)(wait_s * 1000), NULL);
    curl_multi_perform(l->multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(l->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        Transfer *t = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        CURLcode res = m->data.result;
        if (t) finish(l, t, res);
    }
}

/* The session closes: transfers still running (abandoned by their rows) are failed. */
static void loop_free(void *state)
{
    HttpLoop *l = state;
    if (!l) return;
    while (l->list) {
        fql_call *c = l->list->call;
        transfer_free(l, l->list);
        fql_call_error(c, 0, "the session closed");
    }
    curl_multi_cleanup(l->multi);
    free(l);
}

static int get_json_setup(UdfHub *hub, AsyncImpl *impl, char **msg)
{
    HttpLoop *l = udf_hub_state(hub);
    if (!l) {
        http_global_init();
        l = xcalloc(1, sizeof *l);
        l->multi = curl_multi_init();
        if (!l->multi) { free(l); *msg = xstrdup("http_get_json: libcurl could not start"); return -1; }
        udf_hub_set_state(hub, l, loop_free);
    }
    impl->start = get_start;
    impl->ud = l;
    impl->pump = get_pump;
    impl->max_concurrency = 10;
    impl->timeout = 5;
    impl->retries = 2;
    return 0;
}

static int numeric_or_absent(const Type *t) { return !t || t->kind == TY_NULL || t->kind == TY_INT || t->kind == TY_FLOAT; }

static Type *http_get_json_type(Type **args, int nargs, char **msg)
{
    if (args[0] && args[0]->kind != TY_STRING && args[0]->kind != TY_NULL) {
        char *t = type_to_string(args[0]);
        *msg = xasprintf("http_get_json expects a string url, got %s", t);
        free(t);
        return NULL;
    }
    static const char *const opts[] = { "url", "max_concurrency", "timeout", "retries" };
    for (int i = 1; i < nargs && i < 4; i++)
        if (!numeric_or_absent(args[i])) {
            *msg = xasprintf("http_get_json's %s must be a number", opts[i]);
            return NULL;
        }
    return type_json();
}

const FuncDef func_http_defs[] = {
    { "http_get_json", 4, { "url", "max_concurrency", "timeout", "retries" }, 1, FUNC_ASYNC, http_get_json_type, NULL,
      "http_get_json(url, max_concurrency: 10, timeout: 5, retries: 2) -> json: GET url, its JSON answer (null on failure; why in system.lm_errors)",
      get_json_setup },
    { 0 }
};
