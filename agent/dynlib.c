/* agent/dynlib.c - libraries loaded when first needed (see dynlib.h). */
#include "dynlib.h"

#include <dlfcn.h>
#include <stdio.h>

/* pthread_once() takes no argument: the library being loaded, under the once-control. */
static __thread struct dynlib *loading;

static void load(void)
{
	struct dynlib *lib = loading;
	void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	size_t i;

	if (!h) {
		snprintf(lib->error, sizeof(lib->error), "%s", dlerror());
		return;
	}
	for (i = 0; i < lib->n; i++) {
		lib->syms[i] = dlsym(h, lib->names[i]);
		if (!lib->syms[i]) {
			snprintf(lib->error, sizeof(lib->error), "%s has no %s", lib->soname,
				lib->names[i]);
			return;
		}
	}
	/* never dlclose()d: the process keeps it to the end */
}

int dynlib_ready(struct dynlib *lib)
{
	loading = lib;
	pthread_once(&lib->once, load);
	loading = NULL;
	if (lib->error[0])
		return err_set(ERR_IO, "cannot load %s (needed %s): %s", lib->soname, lib->purpose,
			lib->error);
	return 0;
}
