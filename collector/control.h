/*
 * control.h - the collector's control socket (a Unix stream socket) that
 * vaktctl talks to: one command line in, a text answer out, then close.
 */
#ifndef VAKT_CONTROL_H
#define VAKT_CONTROL_H

#include "collector.h"

struct control *control_new(struct collector *c, const char *path);
void control_free(struct control *ctl);

#endif
