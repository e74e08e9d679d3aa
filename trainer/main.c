/* sluice-trainer: fits the router's classifier offline and chooses its thresholds. */
#include <stdio.h>

#include "cli.h"

int main(int argc, char **argv)
{
    return sl_cli_main(argc, argv, stdout, stderr);
}
