/* Port files, written atomically. */
#include "portfile.h"

#include <stdio.h>

int sl_portfile_write(const char *path, int port)
{
    char tmp[4096];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) || rename(tmp, path)) {
        perror(path);
        return SL_EIO;
    }
    return 0;
}
