/*
 * A main() for the fuzz targets without libFuzzer, for scripts/coverage:
 * runs LLVMFuzzerTestOneInput once over every file named on the command
 * line, or in the directories named (not recursively).  Prints how many
 * inputs ran.  A target that finds a problem aborts, as under libFuzzer;
 * the coverage profile is written first so the run is not lost.
 */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);
__attribute__((weak)) int __llvm_profile_write_file(void);

static const char *current;

static void on_abort(int sig)
{
	(void)sig;
	static const char msg[] = "fuzz_driver: aborted on input ";
	ssize_t r = write(2, msg, sizeof msg - 1);
	r = write(2, current, strlen(current));
	r = write(2, "\n", 1);
	(void)r;
	if (__llvm_profile_write_file)
		__llvm_profile_write_file();
	_exit(134);
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	size_t cap = 1 << 16, len = 0;
	uint8_t *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	if (!buf)
		abort();
	/* an exact-size copy, as libFuzzer passes it */
	uint8_t *data = malloc(len ? len : 1);
	memcpy(data, buf, len);
	free(buf);
	current = path;
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	signal(SIGABRT, on_abort);
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	size_t runs = 0;
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			rc = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			rc |= run_file(argv[i]) ? 1 : 0;
			runs++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		if (!d) {
			perror(argv[i]);
			rc = 1;
			continue;
		}
		char **names = NULL;
		size_t nn = 0, cap = 0;
		struct dirent *e;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			if (nn == cap)
				names = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof *names);
			names[nn++] = strdup(e->d_name);
		}
		closedir(d);
		qsort(names, nn, sizeof *names, cmp);
		for (size_t k = 0; k < nn; k++) {
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", argv[i], names[k]);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				rc |= run_file(path) ? 1 : 0;
				runs++;
			}
			free(names[k]);
		}
		free(names);
	}
	fprintf(stderr, "fuzz_driver: %zu inputs\n", runs);
	return rc;
}
