/* parse_ctx.h — state shared by lexer.l and parser.y (no globals). */
#ifndef PARSE_CTX_H
#define PARSE_CTX_H

#include "cnncc.h"

struct ParseCtx {
    Diag *diag;
    void *scanner;
    int parens;  /* open '(' : newlines inside are not statement ends */
    int braces;  /* open '{' : nesting limit */
    int last_nl; /* the last token was a newline */
    int nesting_reported;
    Node *root;
};

#endif
