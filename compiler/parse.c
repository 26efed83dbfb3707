/*
 * parse.c — runs the flex scanner and the bison parser over a source
 * buffer.  The text is checked to be text first (no NUL bytes), because a
 * binary file should get one clear error rather than a page of syntax
 * errors.
 */
#include <string.h>

#include "cnncc.h"
#include "parse_ctx.h"
#include "parser.h"
#define YYSTYPE ARCH_STYPE
#define YYLTYPE ARCH_LTYPE
#include "lexer.h"

Node *parse_source(Diag *d) {
    if (d->size > MAX_SOURCE_BYTES) {
        diag_error(d, (Loc){0, 0, 0}, "input is %zu bytes, more than the limit of %d", d->size,
                   MAX_SOURCE_BYTES);
        return NULL;
    }
    const char *nul = memchr(d->text, '\0', d->size);
    if (nul) {
        int line = 1, col = 1;
        for (const char *p = d->text; p < nul; p++) {
            if (*p == '\n') {
                line++;
                col = 1;
            } else
                col++;
        }
        diag_error(d, (Loc){line, col, 1}, "input is not text (NUL byte at offset %zu)",
                   (size_t)(nul - d->text));
        return NULL;
    }
    struct ParseCtx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.diag = d;
    yyscan_t scanner;
    if (arch_lex_init_extra(&ctx, &scanner) != 0) return NULL;
    ctx.scanner = scanner;
    YY_BUFFER_STATE buf = arch__scan_bytes(d->text, (int)d->size, scanner);
    int rc = arch_parse(scanner, &ctx);
    arch__delete_buffer(buf, scanner);
    arch_lex_destroy(scanner);
    if (rc != 0 || d->errors) {
        if (rc == 2)
            diag_error(d, (Loc){0, 0, 0}, "input too deeply nested for the parser");
        else if (rc == 1 && d->errors == 0)
            diag_error(d, (Loc){0, 0, 0}, "syntax error");
        ast_free(ctx.root);
        return NULL;
    }
    return ctx.root;
}
