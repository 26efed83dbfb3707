/* output.h — atomic output files (output.c). */
#ifndef OUTPUT_H
#define OUTPUT_H

#include <stdio.h>

typedef struct {
    FILE *f;    /* write here */
    char *path; /* the destination */
    char *tmp;  /* the temporary file renamed over it on commit */
} OutFile;

/* 0, or -1 after a message on stderr. */
int out_open(OutFile *o, const char *path);
/* Rename into place; -1 (temp removed, destination untouched) on failure. */
int out_commit(OutFile *o);
/* Remove the temporary file, leave the destination as it was. */
void out_abort(OutFile *o);

#endif
