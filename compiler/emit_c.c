#include "emit_c.h"
#include <ctype.h>
int emit_c_valid_prefix(const char *p) { if (!isalpha((unsigned char)*p) && *p!='_') return 0; for (; *p; p++) if (!isalnum((unsigned char)*p) && *p!='_') return 0; return 1; }
int emit_c(const Graph *g, const Plan *p, const char *out_c, const char *prefix, const char *weights) { (void)g;(void)p;(void)out_c;(void)prefix;(void)weights; return 2; }
int emit_init_weights(const Graph *g, const char *path, unsigned long long seed) { (void)g;(void)path;(void)seed; return 2; }
