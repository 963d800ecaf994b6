/*
 * config_file.h — reads the --config YAML file over a server_config that
 * already holds the defaults (config.c then applies the flags on top).
 */
#ifndef VEX_SERVER_CONFIG_FILE_H
#define VEX_SERVER_CONFIG_FILE_H

#include "config.h"

typedef struct file_seen {
    bool listen;              /* the file has a listen: list  */
    bool host_port;           /* the file has host: or port:  */
} file_seen;

/* 0, or 2 with "FILE:LINE: key: problem" in err. */
int config_file_read(const char *path, server_config *cfg, file_seen *seen, char *err,
                     size_t errlen);

#endif
