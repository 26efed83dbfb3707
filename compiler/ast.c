/* ast.c — construction and destruction of the syntax tree. */
#include <stdlib.h>

#include "cnncc.h"

Node *ast_new(NodeKind kind, Loc loc) {
    Node *n = xcalloc(1, sizeof *n);
    n->kind = kind;
    n->loc = loc;
    return n;
}

Node *ast_append(Node *list, Node *item) {
    if (!list) return item;
    Node *last = list;
    while (last->next) last = last->next;
    last->next = item;
    return list;
}

int ast_count(const Node *list) {
    int n = 0;
    for (; list; list = list->next) n++;
    return n;
}

/* Siblings iteratively, children recursively: depth is bounded by the
 * parser's nesting limit, length is not. */
void ast_free(Node *n) {
    while (n) {
        Node *next = n->next;
        ast_free(n->kids);
        ast_free(n->params);
        ast_free(n->ret);
        free(n->str);
        free(n);
        n = next;
    }
}
