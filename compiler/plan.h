/*
 * plan.h — the execution plan (plan.c): which layers become kernel calls
 * after the rewrites, and where every activation lives in the static arena.
 */
#ifndef PLAN_H
#define PLAN_H

#include "cnncc.h"

typedef struct Plan Plan;

Plan *plan_build(const Graph *g, int keep_aux);
void plan_free(Plan *p);
long long plan_arena_bytes(const Plan *p);
long long plan_lower_bound(const Plan *p);

#endif
