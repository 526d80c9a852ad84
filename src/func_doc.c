/* func_doc.c: document functions (PDF). */
#include "func.h"

const FuncDef func_doc_defs[] = {
    { NULL, 0, { NULL }, 0, 0, NULL, NULL, NULL }
};
