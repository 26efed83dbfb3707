/*
 * parser.y — the grammar of SPEC §2, building the AST of cnncc.h.
 *
 *   file  = "model" NAME { stmt }
 *   stmt  = "input" NAME ":" tuple | NAME "=" expr [ "->" tuple ]
 *         | "block" NAME "(" [ NAME { "," NAME } ] ")" "{" { stmt } "return" expr "}"
 *         | "repeat" INT "{" { stmt } "}"
 *         | "output" NAME { "," NAME } [ "auxiliary" ]
 *         | "expect" ( "params" | "trainable" | "non_trainable" ) INT
 *
 * Values and expressions share one rule (`value`): whether a NAME is a
 * tensor variable or a symbol like `relu` is decided later by the op's
 * signature.  After a syntax error the parser skips to the end of the line
 * and goes on, so one run reports every broken statement.
 */
%define api.pure full
%define api.prefix {arch_}
%define parse.error custom
%locations
%param {void *scanner}
%parse-param {struct ParseCtx *ctx}

%code requires {
#include "cnncc.h"
#include "parse_ctx.h"
}

%code provides {
int arch_lex(ARCH_STYPE *lval, ARCH_LTYPE *lloc, void *scanner);
}

%code {
#include <string.h>

static Loc mkloc(const ARCH_LTYPE *l) {
    Loc loc = {l->first_line, l->first_column, 1};
    if (l->last_line == l->first_line && l->last_column > l->first_column)
        loc.len = l->last_column - l->first_column;
    return loc;
}

static void arch_error(ARCH_LTYPE *l, void *scanner, struct ParseCtx *ctx, const char *msg) {
    (void)scanner;
    diag_error(ctx->diag, mkloc(l), "%s", msg);
}

static Node *leaf(NodeKind k, const ARCH_LTYPE *l) { return ast_new(k, mkloc(l)); }
}

%union {
    long long ival;
    double fval;
    char *str;
    Node *node;
}

%token <str> NAME "name" STRING "string"
%token <ival> INT "integer"
%token <fval> FLOAT "number"
%token MODEL "'model'" INPUT "'input'" BLOCK "'block'" REPEAT "'repeat'"
%token OUTPUT "'output'" AUXILIARY "'auxiliary'" EXPECT "'expect'"
%token RETURN "'return'" TRUE "'true'" FALSE "'false'" ARROW "'->'"
%token NL "end of line" LEX_ERROR "invalid token"

%type <node> stmts stmt value values tuple call args arg names opt_names opt_shape
%type <ival> opt_aux

%destructor { free($$); } <str>
%destructor { ast_free($$); } <node>

%%

file
    : opt_nls MODEL NAME NL stmts {
          Node *m = leaf(N_MODEL, &@3);
          m->str = $3;
          m->kids = $5;
          ctx->root = m;
      }
    ;

opt_nls : %empty | opt_nls NL ;

stmts
    : %empty            { $$ = NULL; }
    | stmts NL          { $$ = $1; }
    | stmts stmt NL     { $$ = ast_append($1, $2); }
    | stmts error NL    { $$ = $1; yyerrok; }
    ;

stmt
    : INPUT NAME ':' tuple {
          $$ = leaf(N_INPUT, &@2); $$->str = $2; $$->kids = $4;
      }
    | NAME '=' value opt_shape {
          $$ = leaf(N_ASSIGN, &@1); $$->str = $1; $$->kids = ast_append($3, $4);
      }
    | BLOCK NAME '(' opt_names ')' opt_nls open stmts RETURN value opt_nls close {
          $$ = leaf(N_BLOCK, &@2); $$->str = $2; $$->params = $4; $$->kids = $8; $$->ret = $10;
      }
    | REPEAT INT opt_nls open stmts close {
          $$ = leaf(N_REPEAT, &@1); $$->ival = $2; $$->kids = $5;
          $$->loc = mkloc(&@2);
      }
    | REPEAT INT opt_nls open stmts stmt close { /* repeat 3 { x = f(x) } on one line */
          $$ = leaf(N_REPEAT, &@1); $$->ival = $2; $$->kids = ast_append($5, $6);
          $$->loc = mkloc(&@2);
      }
    | OUTPUT names opt_aux {
          $$ = leaf(N_OUTPUT, &@1); $$->kids = $2; $$->ival = $3;
      }
    | EXPECT NAME INT {
          $$ = leaf(N_EXPECT, &@2); $$->str = $2; $$->ival = $3;
      }
    ;

open
    : '{' {
          if (++ctx->braces > MAX_NESTING) {
              diag_error(ctx->diag, mkloc(&@1), "braces nested deeper than %d", MAX_NESTING);
              YYABORT;
          }
      }
    ;
close : '}' { ctx->braces--; } ;

opt_shape
    : %empty            { $$ = NULL; }
    | ARROW tuple       { $$ = $2; }
    ;

opt_aux
    : %empty            { $$ = 0; }
    | AUXILIARY         { $$ = 1; }
    ;

names
    : NAME              { $$ = leaf(N_NAME, &@1); $$->str = $1; }
    | names ',' NAME    { Node *n = leaf(N_NAME, &@3); n->str = $3; $$ = ast_append($1, n); }
    ;

opt_names
    : %empty            { $$ = NULL; }
    | names             { $$ = $1; }
    ;

value
    : INT               { $$ = leaf(N_INT, &@1); $$->ival = $1; }
    | '-' INT           { $$ = leaf(N_INT, &@1); $$->ival = -$2; }
    | FLOAT             { $$ = leaf(N_FLOAT, &@1); $$->fval = $1; }
    | '-' FLOAT         { $$ = leaf(N_FLOAT, &@1); $$->fval = -$2; }
    | STRING            { $$ = leaf(N_STRING, &@1); $$->str = $1; }
    | NAME              { $$ = leaf(N_NAME, &@1); $$->str = $1; }
    | TRUE              { $$ = leaf(N_BOOL, &@1); $$->ival = 1; }
    | FALSE             { $$ = leaf(N_BOOL, &@1); $$->ival = 0; }
    | tuple             { $$ = $1; }
    | call              { $$ = $1; }
    ;

tuple
    : '(' values ')'     { $$ = leaf(N_TUPLE, &@1); $$->kids = $2; }
    | '(' values ',' ')' { $$ = leaf(N_TUPLE, &@1); $$->kids = $2; }
    ;

values
    : value             { $$ = $1; }
    | values ',' value  { $$ = ast_append($1, $3); }
    ;

call
    : NAME '(' ')'      { $$ = leaf(N_CALL, &@1); $$->str = $1; }
    | NAME '(' args ')' { $$ = leaf(N_CALL, &@1); $$->str = $1; $$->kids = $3; }
    ;

args
    : arg               { $$ = $1; }
    | args ',' arg      { $$ = ast_append($1, $3); }
    ;

arg
    : value             { $$ = $1; }
    | NAME '=' value    { $$ = leaf(N_KWARG, &@1); $$->str = $1; $$->kids = $3; }
    ;

%%

/* "unexpected X, expected Y or Z" — a lexer error was already reported. */
static int yyreport_syntax_error(const yypcontext_t *pctx, void *scanner, struct ParseCtx *ctx) {
    (void)scanner;
    yysymbol_kind_t got = yypcontext_token(pctx);
    if (got == YYSYMBOL_LEX_ERROR) return 0;
    yysymbol_kind_t expected[6];
    int n = yypcontext_expected_tokens(pctx, expected, 6);
    char msg[256];
    size_t len = (size_t)snprintf(msg, sizeof msg, "syntax error: unexpected %s",
                                  got == YYSYMBOL_YYEOF ? "end of file" : yysymbol_name(got));
    for (int i = 0; i < n && n < 6 && len < sizeof msg; i++)
        len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s", i == 0 ? ", expected " : " or ",
                                yysymbol_name(expected[i]));
    diag_error(ctx->diag, mkloc(yypcontext_location(pctx)), "%s", msg);
    return 0;
}
