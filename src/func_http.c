/* func_http.c: HTTP functions. */
#include "func.h"

const FuncDef func_http_defs[] = {
    { NULL, 0, { NULL }, 0, 0, NULL, NULL, NULL }
};
