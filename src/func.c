/* func.c: what every table of built-in functions shares (func.h). */
#include <stdarg.h>
#include "func.h"

Value func_error(FuncCtx *c, const char *fmt, ...)
{
    if (c && !c->error) {
        Buf b;
        va_list ap;
        buf_init(&b);
        va_start(ap, fmt);
        buf_vprintf(&b, fmt, ap);
        va_end(ap);
        c->error = buf_take(&b);
    }
    return v_null();
}
