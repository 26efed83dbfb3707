/*
 * output.c — atomic output files.  Everything cnncc writes goes to a
 * temporary file in the destination's directory and is renamed over the
 * destination only when complete, so a failed or interrupted run never
 * leaves a partial file or destroys the previous one.  The temporary files
 * of a run are also removed on SIGINT/SIGTERM/SIGHUP.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnncc.h"
#include "output.h"

#define MAX_PENDING 8

static char *pending[MAX_PENDING]; /* temp paths to remove on a signal */

static void on_signal(int sig) {
    for (int i = 0; i < MAX_PENDING; i++)
        if (pending[i]) unlink(pending[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void track(char *tmp, int add) {
    static int handlers;
    if (!handlers) {
        handlers = 1;
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        signal(SIGHUP, on_signal);
    }
    for (int i = 0; i < MAX_PENDING; i++) {
        if (add && !pending[i]) {
            pending[i] = tmp;
            return;
        }
        if (!add && pending[i] == tmp) {
            pending[i] = NULL;
            return;
        }
    }
}

int out_open(OutFile *o, const char *path) {
    memset(o, 0, sizeof *o);
    o->path = xstrdup(path);
    o->tmp = xprintf("%s.tmpXXXXXX", path);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        fprintf(stderr, "cnncc: cannot create %s: %s\n", path, strerror(errno));
        free(o->tmp);
        free(o->path);
        o->tmp = o->path = NULL;
        return -1;
    }
    track(o->tmp, 1);
    /* mkstemp makes 0600; a generated file gets the usual 0666 & ~umask. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    o->f = fdopen(fd, "wb");
    if (!o->f) {
        close(fd);
        out_abort(o);
        return -1;
    }
    return 0;
}

void out_abort(OutFile *o) {
    if (o->f) fclose(o->f);
    if (o->tmp) {
        unlink(o->tmp);
        track(o->tmp, 0);
    }
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
}

int out_commit(OutFile *o) {
    int ok = !ferror(o->f) && fflush(o->f) == 0 && fsync(fileno(o->f)) == 0;
    ok &= fclose(o->f) == 0;
    o->f = NULL;
    if (ok && rename(o->tmp, o->path) != 0) ok = 0;
    if (!ok) {
        fprintf(stderr, "cnncc: cannot write %s: %s\n", o->path, strerror(errno));
        out_abort(o);
        return -1;
    }
    track(o->tmp, 0);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
    return 0;
}
