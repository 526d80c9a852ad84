/* glob.c: path patterns with `*`, `?`, `[...]` (fnmatch, one path component each) and `**` (any
 * number of directories, zero included). Matches are sorted and unique; hidden entries are matched
 * only by a pattern component that starts with '.'. Directory symlinks are not followed by `**`
 * (no cycles). */
#include <dirent.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "io_int.h"

typedef struct Matches { char **v; int n, cap; } Matches;

static void add_match(Matches *m, const char *path)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->v = xrealloc(m->v, (size_t)m->cap * sizeof *m->v);
    }
    m->v[m->n++] = xstrdup(path);
}

static int has_magic(const char *s) { return strpbrk(s, "*?[") != NULL; }

static char *join(const char *dir, const char *name)
{
    if (!*dir) return xstrdup(name);
    size_t n = strlen(dir);
    return dir[n - 1] == '/' ? xasprintf("%s%s", dir, name) : xasprintf("%s/%s", dir, name);
}

/* Match comps[i..n) below dir ("" = the current directory). */
static void walk(const char *dir, char **comps, int i, int n, Matches *m)
{
    struct stat st;
    if (i == n) {
        if (stat(*dir ? dir : ".", &st) == 0 && S_ISREG(st.st_mode)) add_match(m, dir);
        return;
    }
    const char *c = comps[i];
    if (!has_magic(c)) {
        char *p = join(dir, c);
        if (i + 1 == n || (stat(p, &st) == 0 && S_ISDIR(st.st_mode))) walk(p, comps, i + 1, n, m);
        free(p);
        return;
    }
    int star2 = strcmp(c, "**") == 0;
    if (star2) walk(dir, comps, i + 1, n, m);               /* zero directories */
    DIR *d = opendir(*dir ? dir : ".");
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *name = e->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
        char *p = join(dir, name);
        if (star2) {
            if (name[0] != '.' && lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) walk(p, comps, i, n, m);
        } else if (fnmatch(c, name, FNM_PERIOD) == 0) {
            if (i + 1 == n || (stat(p, &st) == 0 && S_ISDIR(st.st_mode))) walk(p, comps, i + 1, n, m);
        }
        free(p);
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int io_glob(const char *pattern, char ***paths)
{
    Matches m = { NULL, 0, 0 };
    *paths = NULL;
    if (!has_magic(pattern)) {
        struct stat st;
        if (stat(pattern, &st) != 0) return 0;
        add_match(&m, pattern);
        *paths = m.v;
        return 1;
    }
    /* split into components */
    char *copy = xstrdup(pattern);
    int ncomps = 0, cap = 8;
    char **comps = xmalloc((size_t)cap * sizeof *comps);
    for (char *save = NULL, *tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (ncomps == cap) { cap *= 2; comps = xrealloc(comps, (size_t)cap * sizeof *comps); }
        comps[ncomps++] = tok;
    }
    walk(pattern[0] == '/' ? "/" : "", comps, 0, ncomps, &m);
    free(comps);
    free(copy);
    if (m.n > 1) {
        qsort(m.v, (size_t)m.n, sizeof *m.v, cmp_str);
        int k = 1;
        for (int i = 1; i < m.n; i++) {
            if (strcmp(m.v[i], m.v[k - 1]) == 0) free(m.v[i]);
            else m.v[k++] = m.v[i];
        }
        m.n = k;
    }
    *paths = m.v;
    return m.n;
}

/* ---- matching names that are not local files (remote listings) ---- */

/* Glob match component by component; `**` matches any number of components. */
static int match_comps(const char *pat, const char *path)
{
    if (!*pat) return !*path;
    size_t pl = strcspn(pat, "/"), sl = strcspn(path, "/");
    const char *pnext = pat[pl] ? pat + pl + 1 : pat + pl;
    if (pl == 2 && !strncmp(pat, "**", 2)) {
        if (match_comps(pnext, path)) return 1;             /* zero components */
        if (!*path) return 0;
        return match_comps(pat, path[sl] ? path + sl + 1 : path + sl);
    }
    if (!*path) return 0;
    char pc[1024], sc[1024];
    if (pl >= sizeof pc || sl >= sizeof sc) return 0;
    memcpy(pc, pat, pl); pc[pl] = 0;
    memcpy(sc, path, sl); sc[sl] = 0;
    if (fnmatch(pc, sc, 0) != 0) return 0;
    if (!pat[pl] || !path[sl]) return !pat[pl] && !path[sl];
    return match_comps(pnext, path + sl + 1);
}

int io_glob_match(const char *pattern, const char *path) { return match_comps(pattern, path); }

int io_has_magic(const char *s) { return has_magic(s); }

void io_names_add(NameList *l, const char *name)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->names = xrealloc(l->names, (size_t)l->cap * sizeof *l->names);
    }
    l->names[l->n++] = xstrdup(name);
}

void io_names_sort(NameList *l)
{
    if (l->n < 2) return;
    qsort(l->names, (size_t)l->n, sizeof *l->names, cmp_str);
    int k = 1;
    for (int i = 1; i < l->n; i++) {
        if (strcmp(l->names[i], l->names[k - 1])) l->names[k++] = l->names[i];
        else free(l->names[i]);
    }
    l->n = k;
}

void io_names_free(NameList *l)
{
    for (int i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof *l);
}

/* ---- folders of partitions (see io.h) ---- */

/* See io.h (here, below remote.c and the folder code that both use it). */
int io_is_remote(const char *path)
{
    return !strncmp(path, "https://", 8) || !strncmp(path, "http://", 7) ||
           !strncmp(path, "hf://", 5) || !strncmp(path, "s3://", 5);
}

/* See io.h. */
int io_is_folder(const char *path)
{
    size_t n = strlen(path);
    if (n && path[n - 1] == '/') return !io_is_remote(path) || !strncmp(path, "s3://", 5);
    struct stat st;
    return !io_is_remote(path) && !io_has_magic(path) && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* See io.h. */
const char *io_format_ext(FileFormat f)
{
    switch (f) {
    case FMT_TSV: return "tsv";
    case FMT_JSON: return "json";
    case FMT_JSONL: return "jsonl";
    case FMT_PARQUET: return "parquet";
    default: return "csv";
    }
}

/* folder with exactly one '/' before name (malloc'd) */
static char *folder_join(const char *folder, const char *name)
{
    size_t n = strlen(folder);
    while (n > 1 && folder[n - 1] == '/') n--;
    return xasprintf("%.*s/%s", (int)n, folder, name);
}

/* See io.h. */
char *io_part_path(const char *folder, FileFormat f, int i, int n)
{
    char name[64];
    snprintf(name, sizeof name, "part-%05d-of-%05d.%s", i, n, io_format_ext(f));
    return folder_join(folder, name);
}

/* See io.h. */
char *io_folder_glob(const char *folder, FileFormat f)
{
    char name[16];
    snprintf(name, sizeof name, "*.%s", io_format_ext(f));
    return folder_join(folder, name);
}
