/* curl_lazy.c: libcurl, loaded when the first transfer needs it.
 *
 * libcurl and what it pulls in (TLS, Kerberos, LDAP, SSH, IDN: about 25 libraries, some with
 * constructors that do real work) took half of fql's start-up: 5 of its 11 ms for a statement that
 * sends nothing. So libfql does not link it: this file defines the libcurl functions FQL calls, and
 * the first call loads libcurl.so.4 with dlopen and forwards every call to it from then on. The
 * headers are libcurl's own (the types and option numbers are those of the library loaded, the
 * same soname), so the rest of the code calls curl_* as usual. The symbols here are hidden
 * (-fvisibility=hidden): libfql.so does not export them, so nothing else resolves to them.
 *
 * A machine without libcurl.so.4 stops at the first transfer with a message that says what to
 * install (the panic hook: every caller expects libcurl to be there, as it was when linked).
 */
#define CURL_DISABLE_TYPECHECK   /* the functions below are libcurl's; the typecheck macros would rename them */
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include "util.h"

#define CURL_SONAME "libcurl.so.4"

/* The libcurl functions FQL calls, as dlsym finds them in the library. */
static struct {
    CURLcode (*global_init)(long);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    CURLcode (*easy_perform)(CURL *);
    void (*easy_reset)(CURL *);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    curl_mime *(*mime_init)(CURL *);
    void (*mime_free)(curl_mime *);
    curl_mimepart *(*mime_addpart)(curl_mime *);
    CURLcode (*mime_name)(curl_mimepart *, const char *);
    CURLcode (*mime_filename)(curl_mimepart *, const char *);
    CURLcode (*mime_type)(curl_mimepart *, const char *);
    CURLcode (*mime_data)(curl_mimepart *, const char *, size_t);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned int, int, int *);
    CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
    CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURLMcode (*multi_cleanup)(CURLM *);
} C;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;

/* Open libcurl and find each function; on any failure, stop with what to install. */
static void load(void)
{
    void *h = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    char msg[512];
    if (!h) {
        snprintf(msg, sizeof msg, "FQL needs libcurl to send requests, and %s could not be loaded (%s): install it "
                 "(Debian: apt-get install libcurl4, or `make deps`)", CURL_SONAME, dlerror());
        util_panic(msg);
    }
    const char *missing = NULL;
#define SYM(field, name) \
    do { \
        *(void **)&C.field = dlsym(h, name); \
        if (!C.field && !missing) missing = name; \
    } while (0)
    SYM(global_init, "curl_global_init");
    SYM(global_cleanup, "curl_global_cleanup");
    SYM(easy_init, "curl_easy_init");
    SYM(easy_setopt, "curl_easy_setopt");
    SYM(easy_getinfo, "curl_easy_getinfo");
    SYM(easy_perform, "curl_easy_perform");
    SYM(easy_reset, "curl_easy_reset");
    SYM(easy_cleanup, "curl_easy_cleanup");
    SYM(easy_strerror, "curl_easy_strerror");
    SYM(slist_append, "curl_slist_append");
    SYM(slist_free_all, "curl_slist_free_all");
    SYM(mime_init, "curl_mime_init");
    SYM(mime_free, "curl_mime_free");
    SYM(mime_addpart, "curl_mime_addpart");
    SYM(mime_name, "curl_mime_name");
    SYM(mime_filename, "curl_mime_filename");
    SYM(mime_type, "curl_mime_type");
    SYM(mime_data, "curl_mime_data");
    SYM(multi_init, "curl_multi_init");
    SYM(multi_setopt, "curl_multi_setopt");
    SYM(multi_add_handle, "curl_multi_add_handle");
    SYM(multi_remove_handle, "curl_multi_remove_handle");
    SYM(multi_perform, "curl_multi_perform");
    SYM(multi_poll, "curl_multi_poll");
    SYM(multi_socket_action, "curl_multi_socket_action");
    SYM(multi_assign, "curl_multi_assign");
    SYM(multi_info_read, "curl_multi_info_read");
    SYM(multi_cleanup, "curl_multi_cleanup");
#undef SYM
    if (missing) {
        snprintf(msg, sizeof msg, "the %s found has no %s (FQL needs libcurl 7.66 or later): upgrade libcurl4", CURL_SONAME, missing);
        util_panic(msg);
    }
}

#define LOAD() pthread_once(&load_once, load)

CURLcode curl_global_init(long flags) { LOAD(); return C.global_init(flags); }
void curl_global_cleanup(void) { LOAD(); C.global_cleanup(); }
CURL *curl_easy_init(void) { LOAD(); return C.easy_init(); }
CURLcode curl_easy_perform(CURL *e) { LOAD(); return C.easy_perform(e); }
void curl_easy_reset(CURL *e) { LOAD(); C.easy_reset(e); }
void curl_easy_cleanup(CURL *e) { LOAD(); C.easy_cleanup(e); }
const char *curl_easy_strerror(CURLcode c) { LOAD(); return C.easy_strerror(c); }
struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s) { LOAD(); return C.slist_append(l, s); }
void curl_slist_free_all(struct curl_slist *l) { LOAD(); C.slist_free_all(l); }
curl_mime *curl_mime_init(CURL *e) { LOAD(); return C.mime_init(e); }
void curl_mime_free(curl_mime *m) { LOAD(); C.mime_free(m); }
curl_mimepart *curl_mime_addpart(curl_mime *m) { LOAD(); return C.mime_addpart(m); }
CURLcode curl_mime_name(curl_mimepart *p, const char *s) { LOAD(); return C.mime_name(p, s); }
CURLcode curl_mime_filename(curl_mimepart *p, const char *s) { LOAD(); return C.mime_filename(p, s); }
CURLcode curl_mime_type(curl_mimepart *p, const char *s) { LOAD(); return C.mime_type(p, s); }
CURLcode curl_mime_data(curl_mimepart *p, const char *d, size_t n) { LOAD(); return C.mime_data(p, d, n); }
CURLM *curl_multi_init(void) { LOAD(); return C.multi_init(); }
CURLMcode curl_multi_add_handle(CURLM *m, CURL *e) { LOAD(); return C.multi_add_handle(m, e); }
CURLMcode curl_multi_remove_handle(CURLM *m, CURL *e) { LOAD(); return C.multi_remove_handle(m, e); }
CURLMcode curl_multi_perform(CURLM *m, int *running) { LOAD(); return C.multi_perform(m, running); }
CURLMcode curl_multi_poll(CURLM *m, struct curl_waitfd *fds, unsigned int n, int ms, int *ret) { LOAD(); return C.multi_poll(m, fds, n, ms, ret); }
CURLMcode curl_multi_socket_action(CURLM *m, curl_socket_t s, int ev, int *running) { LOAD(); return C.multi_socket_action(m, s, ev, running); }
CURLMcode curl_multi_assign(CURLM *m, curl_socket_t s, void *p) { LOAD(); return C.multi_assign(m, s, p); }
CURLMsg *curl_multi_info_read(CURLM *m, int *left) { LOAD(); return C.multi_info_read(m, left); }
CURLMcode curl_multi_cleanup(CURLM *m) { LOAD(); return C.multi_cleanup(m); }

/* The variadic ones: the option's number says the type of its one argument (curl.h: CURLOPTTYPE_*,
 * the same scheme for the multi options), which is read and passed on as that type. */
CURLcode curl_easy_setopt(CURL *e, CURLoption opt, ...)
{
    LOAD();
    va_list ap;
    va_start(ap, opt);
    CURLcode rc;
    if (opt < CURLOPTTYPE_OBJECTPOINT) rc = C.easy_setopt(e, opt, va_arg(ap, long));
    else if (opt < CURLOPTTYPE_FUNCTIONPOINT) rc = C.easy_setopt(e, opt, va_arg(ap, void *));
    else if (opt < CURLOPTTYPE_OFF_T) rc = C.easy_setopt(e, opt, va_arg(ap, void (*)(void)));
    else if (opt < CURLOPTTYPE_BLOB) rc = C.easy_setopt(e, opt, va_arg(ap, curl_off_t));
    else rc = C.easy_setopt(e, opt, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

CURLMcode curl_multi_setopt(CURLM *m, CURLMoption opt, ...)
{
    LOAD();
    va_list ap;
    va_start(ap, opt);
    CURLMcode rc;
    if (opt < CURLOPTTYPE_OBJECTPOINT) rc = C.multi_setopt(m, opt, va_arg(ap, long));
    else if (opt < CURLOPTTYPE_FUNCTIONPOINT) rc = C.multi_setopt(m, opt, va_arg(ap, void *));
    else if (opt < CURLOPTTYPE_OFF_T) rc = C.multi_setopt(m, opt, va_arg(ap, void (*)(void)));
    else rc = C.multi_setopt(m, opt, va_arg(ap, curl_off_t));
    va_end(ap);
    return rc;
}

/* Every CURLINFO takes a pointer to where the value goes. */
CURLcode curl_easy_getinfo(CURL *e, CURLINFO info, ...)
{
    LOAD();
    va_list ap;
    va_start(ap, info);
    CURLcode rc = C.easy_getinfo(e, info, va_arg(ap, void *));
    va_end(ap);
    return rc;
}
