/*
 * accept_pause.h - what the listeners do when accept() fails for lack of
 * descriptors or memory: stop accepting, say so once, try again after a
 * growing delay, and say once when sessions are accepted again. Never spin.
 */
#ifndef VAKT_ACCEPT_PAUSE_H
#define VAKT_ACCEPT_PAUSE_H

#include <event2/listener.h>

#include "collector.h"

void accept_pause_init(struct collector *c);
void accept_pause_free(struct collector *c);
/* evconnlistener error callback (evconnlistener_set_error_cb), arg the collector. */
void accept_pause_error(struct evconnlistener *l, void *arg);
/* A connection was accepted: ends a pause, with one line. */
void accept_pause_accepted(struct collector *c);

#endif
