/*
 * replay: runs a fuzz target's committed corpus through it without
 * libFuzzer, so that `make check` (and its sanitizer build) replays every
 * seed and every crash kept as a regression input.
 *
 * Built once per target with FUZZ_CORPUS set to the corpus folder's name;
 * reads every file of $MESHCACHED_SRCDIR/tests/fuzz/corpus/FUZZ_CORPUS, or the files
 * and folders given as arguments. Exits 0 when every input ran (a broken
 * invariant aborts inside the target), 1 when an input could not be read
 * or the corpus is empty.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs one file. Returns 0 or -1. */
static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    size_t n = 0, cap = 0;

    if (f == NULL) {
        perror(path);
        return -1;
    }
    for (;;) {
        if (n == cap) {
            uint8_t *p = realloc(data, cap = cap * 2 + 4096);
            if (p == NULL) {
                free(data);
                fclose(f);
                return -1;
            }
            data = p;
        }
        size_t got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    /* an exactly sized copy, so that ASan sees a read past the input */
    uint8_t *exact = malloc(n > 0 ? n : 1);
    if (exact == NULL) {
        free(data);
        return -1;
    }
    memcpy(exact, data, n);
    free(data);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

/* Runs a file, or every regular file of a folder. Returns the inputs run,
 * or -1. */
static long run_path(const char *path)
{
    struct stat sb;
    DIR *d;
    struct dirent *e;
    long n = 0;

    if (stat(path, &sb) != 0) {
        perror(path);
        return -1;
    }
    if (!S_ISDIR(sb.st_mode))
        return run_file(path) == 0 ? 1 : -1;
    if ((d = opendir(path)) == NULL) {
        perror(path);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        char p[4096];
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
        if (run_file(p) != 0) {
            closedir(d);
            return -1;
        }
        n++;
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    const char *src = getenv("MESHCACHED_SRCDIR");
    char dir[4096];
    long total = 0;

    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            long n = run_path(argv[i]);
            if (n < 0)
                return 1;
            total += n;
        }
    } else {
        snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", src != NULL ? src : ".",
                 FUZZ_CORPUS);
        if ((total = run_path(dir)) < 0)
            return 1;
    }
    printf("replayed %ld inputs\n", total);
    return total > 0 ? 0 : 1;
}
