/* Loading tool set modules from the directory beside mcpd's binary (see
 * toolset.h for why the place is fixed). */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "toolset.h"

/* Writes BINDIR/../lib/zonegate/NAME.so into out. */
static int module_path(const char *name, char *out, size_t outlen)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;
	int w;

	if (n <= 0)
		return -1;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	w = snprintf(out, outlen, "%s/../lib/zonegate/%s.so", exe, name);
	return w < 0 || (size_t)w >= outlen ? -1 : 0;
}

void *mcpd_toolset_symbol(const char *name, const char *symbol, char *err,
			  size_t errlen)
{
	char path[PATH_MAX];
	void *handle, *sym;

	if (module_path(name, path, sizeof(path)) != 0) {
		snprintf(err, errlen, "cannot locate the module directory");
		return NULL;
	}
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		snprintf(err, errlen, "cannot load tool set %s: %s", name,
			 dlerror());
		return NULL;
	}
	sym = dlsym(handle, symbol);
	if (!sym) {
		snprintf(err, errlen, "tool set %s has no %s", name, symbol);
		dlclose(handle);
		return NULL;
	}
	return sym;
}
