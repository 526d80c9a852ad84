/* plugin.c: the loader of libfql's plugins (io.h, plugin_load): shared objects that hold what only
 * some functions need, with the heavy libraries they link (fql-pdf.so: poppler-glib and cairo for
 * PDFs; fql-image.so: cairo and libjpeg for scaling images), loaded with dlopen on first use so
 * that start-up loads none of them.
 *
 * A plugin is looked for, in order, in $FQL_PLUGIN_DIR, next to the library or program that holds
 * this code (and in its ../lib/fql, the installed layout), next to the running program (and its
 * ../lib/fql), and in the compiled-in FQL_PLUGIN_DIR (make install puts it there). Its one exported
 * symbol returns its function table, whose first member is the ABI number it was built for.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "io.h"

#ifndef FQL_PLUGIN_DIR
#define FQL_PLUGIN_DIR "/usr/local/lib/fql"
#endif

/* Try dir/file: its table when it loads and is of ABI abi, else NULL with what went wrong added
 * to tried. */
static const void *try_dir(const char *dir, const char *file, const char *symbol, int abi, Buf *tried)
{
    if (!dir || !*dir) return NULL;
    char *path = xasprintf("%s/%s", dir, file);
    struct stat st;
    int found = stat(path, &st) == 0;
    buf_printf(tried, "%s%s", tried->len ? ", " : "", path);
    if (!found) { free(path); return NULL; }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    const void *(*fn)(void) = NULL;
    if (h) *(void **)&fn = dlsym(h, symbol);
    const void *a = fn ? fn() : NULL;
    if (!a || *(const int *)a != abi) {
        buf_printf(tried, " (%s)", !h ? dlerror() : !a ? "not this FQL plugin" : "built for another version of FQL");
        if (h) dlclose(h);
        free(path);
        return NULL;
    }
    free(path);   /* the plugin stays loaded for the life of the process */
    return a;
}

/* The directory of the file path names (cut at its last slash), or NULL. */
static char *dir_of(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? xstrndup(path, (size_t)(slash - path)) : NULL;
}

/* Try dir and dir/../lib/fql. */
static const void *try_near(const char *dir, const char *file, const char *symbol, int abi, Buf *tried)
{
    if (!dir) return NULL;
    const void *a = try_dir(dir, file, symbol, abi, tried);
    if (!a) {
        char *lib = xasprintf("%s/../lib/fql", dir);
        a = try_dir(lib, file, symbol, abi, tried);
        free(lib);
    }
    return a;
}

const void *plugin_load(const char *file, const char *symbol, int abi, char **tried_out)
{
    Buf tried;
    buf_init(&tried);
    const void *a = try_dir(getenv("FQL_PLUGIN_DIR"), file, symbol, abi, &tried);
    Dl_info info;
    if (!a && dladdr((void *)plugin_load, &info) && info.dli_fname && strchr(info.dli_fname, '/')) {
        char real[PATH_MAX], *dir = realpath(info.dli_fname, real) ? dir_of(real) : NULL;
        a = try_near(dir, file, symbol, abi, &tried);
        free(dir);
    }
    if (!a) {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
            exe[n] = 0;
            char *dir = dir_of(exe);
            a = try_near(dir, file, symbol, abi, &tried);
            free(dir);
        }
    }
    if (!a) a = try_dir(FQL_PLUGIN_DIR, file, symbol, abi, &tried);
    if (!a && tried_out) *tried_out = xstrdup(tried.data ? tried.data : "nothing");
    buf_free(&tried);
    return a;
}
