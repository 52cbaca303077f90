/*
 * The provider registry and the small shared parts: class and state names, instance
 * lists.
 */
#include "modules/provider.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct prov_ops *const registry[] = {&prov_aws, &prov_gcp, &prov_azure};

const struct prov_ops *prov_find(const char *cloud)
{
    for (size_t i = 0; i < sizeof registry / sizeof *registry; i++)
        if (cloud && strcmp(registry[i]->name, cloud) == 0)
            return registry[i];
    return NULL;
}

void prov_error_set(struct prov_error *err, enum prov_error_class cls, const char *fmt, ...)
{
    va_list ap;
    memset(err, 0, sizeof *err);
    err->cls = cls;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

const char *prov_error_class_name(enum prov_error_class cls)
{
    static const char *const names[] = {"ok",   "capacity", "quota",     "throttled",
                                        "auth", "invalid",  "transient", "not-found"};
    return (unsigned)cls < sizeof names / sizeof *names ? names[cls] : "?";
}

void prov_instance_list_release(struct prov_instance_list *l)
{
    free(l->items);
    memset(l, 0, sizeof *l);
}

int prov_instance_list_add(struct prov_instance_list *l, const struct prov_instance *in)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        struct prov_instance *ni = realloc(l->items, ncap * sizeof *ni);
        if (!ni)
            return -1;
        l->items = ni;
        l->cap = ncap;
    }
    l->items[l->n++] = *in;
    return 0;
}
