/*
 * libload.c - opens a library a check kind needs when its first check is
 * configured (libload.h). Never closes one: checks of the kind may come back
 * at the next reload, and the library's own state (libcurl's global init)
 * must outlive them.
 */
#include "libload.h"

#include <dlfcn.h>
#include <stdio.h>

int libload_open(struct libload *l, char *why, size_t len)
{
	void *h;
	size_t i;

	if (l->state == 0) {
		h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
		if (h == NULL) {
			snprintf(l->why, sizeof(l->why), "%s need %s, which does not load: %s",
				 l->what, l->soname, dlerror());
			l->state = -1;
		}
		for (i = 0; h != NULL && i < l->nfns; i++) {
			*l->fns[i].slot = dlsym(h, l->fns[i].name);
			if (*l->fns[i].slot == NULL) {
				snprintf(l->why, sizeof(l->why),
					 "%s need %s with %s, which it lacks", l->what, l->soname,
					 l->fns[i].name);
				l->state = -1;
				dlclose(h);
				break;
			}
		}
		if (l->state == 0)
			l->state = 1;
	}
	if (l->state < 0)
		snprintf(why, len, "%s", l->why);
	return l->state > 0 ? 0 : -1;
}
