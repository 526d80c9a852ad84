/* func_registry.c: the built-in scalar functions by name, over the tables each func_*.c file
 * defines (func.h). The one place that knows every table. */
#include <pthread.h>
#include <string.h>
#include "func.h"

/* each table ends with an entry whose name is NULL */
static const FuncDef *const func_tables[] = { func_scalar_defs, func_text_defs, func_doc_defs, func_http_defs, func_media_defs };
#define NTABLES (sizeof func_tables / sizeof func_tables[0])

const FuncDef *func_lookup(const char *name)
{
    if (!name) return NULL;
    for (size_t t = 0; t < NTABLES; t++)
        for (const FuncDef *d = func_tables[t]; d->name; d++)
            if (strcmp(d->name, name) == 0) return d;
    return NULL;
}

static const char **func_name_list;
static pthread_once_t func_names_once = PTHREAD_ONCE_INIT;

static void func_names_init(void)
{
    size_t n = 0;
    for (size_t t = 0; t < NTABLES; t++)
        for (const FuncDef *d = func_tables[t]; d->name; d++) n++;
    func_name_list = xcalloc(n + 1, sizeof *func_name_list);
    n = 0;
    for (size_t t = 0; t < NTABLES; t++)
        for (const FuncDef *d = func_tables[t]; d->name; d++)
            if (strncmp(d->name, "__", 2)) func_name_list[n++] = d->name;   /* internal ones are not offered */
    func_name_list[n] = NULL;
}

const char *const *func_names(void)
{
    pthread_once(&func_names_once, func_names_init);
    return func_name_list;
}
