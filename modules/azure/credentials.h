/*
 * Microsoft Entra ID (Azure AD) access tokens for Azure Resource Manager, found the way the
 * Azure SDKs' EnvironmentCredential and ManagedIdentityCredential find them: a service
 * principal's client secret from the environment (AZURE_TENANT_ID, AZURE_CLIENT_ID,
 * AZURE_CLIENT_SECRET; the authority AZURE_AUTHORITY_HOST, default
 * https://login.microsoftonline.com), else the machine's managed identity through the
 * instance metadata service (IMDS). A token is cached and fetched again five minutes before
 * it expires; one credential may be shared by many threads. Secrets and tokens live in
 * memory that is wiped when freed and never reach a message (docs/providers.md).
 */
#ifndef GPUFORM_MODULES_AZURE_CREDENTIALS_H
#define GPUFORM_MODULES_AZURE_CREDENTIALS_H

#include <stddef.h>

#include "modules/provider.h"

struct core_http_client;
struct azure_credential; /* opaque */

/* Reads the environment through this function, so tests can pass their own. */
typedef const char *(*azure_getenv_fn)(const char *name, void *ctx);

/*
 * A credential for `scope` ("https://management.azure.com/.default") that fetches tokens
 * through `http` (borrowed: it must outlive the credential; its clock times the cache and
 * its secret list learns the client secret and every token). `getenv_fn` NULL: the real
 * environment. Reads:
 *   - AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET: the client credentials
 *     grant at AUTHORITY/TENANT/oauth2/v2.0/token;
 *   - none of the three: the managed identity, at
 *     AZURE_POD_IDENTITY_AUTHORITY_HOST or http://169.254.169.254 +
 *     /metadata/identity/oauth2/token (AZURE_CLIENT_ID alone picks a user-assigned one).
 * NULL with why[] saying what is missing and what to set (never a secret) when the
 * environment is half set, the authority is plain http to a host other than loopback, or
 * memory runs out. Nothing is fetched until the first azure_credential_token.
 */
struct azure_credential *azure_credential_new(struct core_http_client *http, const char *scope,
                                              azure_getenv_fn getenv_fn, void *ctx, char *why,
                                              size_t whylen);

/* Wipes and frees; NULL is a no-op. No azure_credential_token call may be in flight. */
void azure_credential_free(struct azure_credential *c);

/* Where the credential comes from, for messages: "environment (client 1234..., tenant
 * contoso.onmicrosoft.com)" or "managed identity (IMDS)". Never a secret. Borrowed. */
const char *azure_credential_source(const struct azure_credential *c);

/*
 * A bearer token valid for at least five more minutes: the cached one, or a new one
 * (callers wait while one thread fetches it). Returns 0 with *token a malloc'd copy (wipe
 * and free it with azure_token_free), or -1 with err: class auth for a refused credential
 * (the AADSTS code and description), transient or throttled when the token service failed.
 */
int azure_credential_token(struct azure_credential *c, char **token, struct prov_error *err);

/* Forgets the cached token, so the next call fetches one (after ARM refused it). */
void azure_credential_invalidate(struct azure_credential *c);

/* Wipes and frees a token from azure_credential_token; NULL is a no-op. */
void azure_token_free(char *token);

/* Replaces in err->message every secret `http` knows (the client secret, tokens) and every
 * secret-looking header or parameter by "[redacted]": for messages built from a reply, which
 * a hostile server could fill with what it was sent. */
void azure_redact(struct core_http_client *http, struct prov_error *err);

/* Tokens fetched so far (tests check the cache with it). */
unsigned azure_credential_fetches(struct azure_credential *c);

#endif
