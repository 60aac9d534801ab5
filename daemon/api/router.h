/* The HTTP routes' dispatcher (router.c). */
#ifndef KANAL_ROUTER_H
#define KANAL_ROUTER_H

struct http_req;

/* The HTTP server's handler; arg is the daemon. */
void router_handle(void *arg, struct http_req *req);

#endif
