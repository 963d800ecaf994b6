/* vex_probe — can this build's backend run here? Exit 0 and print its name,
 * or exit 3 and print why not (for scripts that must skip, not fail). */
#include "vex_net.h"
#include <stdio.h>

int main(void)
{
    char why[256] = "";
    if (!vex_backend_available(why, sizeof why)) {
        printf("%s: unavailable: %s\n", vex_backend_name(), why);
        return 3;
    }
    printf("%s\n", vex_backend_name());
    return 0;
}
