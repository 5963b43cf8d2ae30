// Package api holds the JSON wire types of central's admin REST API, served
// over HTTPS under BasePath (/api/v1). Central's web layer converts its store
// models into these types explicitly, and shoalctl decodes them; the package
// imports only the standard library so that clients stay small.
//
// # Conventions
//
//   - JSON field names are snake_case. Times are RFC 3339 strings in UTC;
//     a time that is not known is omitted rather than sent as a zero time.
//   - Authentication: every request carries "Authorization: Bearer <token>".
//     The admin credential with HTTP Basic is accepted too, so that the first
//     token can be minted with POST /api/v1/tokens. Read-only tokens may only
//     use GET.
//   - Lists are paginated with the limit (1..1000, default 50) and offset
//     query parameters and answered in a List envelope
//     {items, total, limit, offset}.
//   - Every error is an Error {error, detail, fields} with a 4xx or 5xx
//     status: 400 bad input, 401 no or bad credential, 403 read-only caller,
//     404 unknown object, 409 conflict, 413 body too large, 422 availability
//     check failed, 500 central's fault (the log has the cause).
//   - The route table, with parameters and schemas, is served as an OpenAPI
//     3.0 document at GET /api/v1/openapi.json.
//
// # Flow of a deployment through the API
//
//	POST /packages (multipart: PackageSpec fields + "file")  -> Package
//	POST /packages/{id}/activate (ActivateRequest)           -> ActivateResult
//	POST /packages/{id}/affect (AffectRequest, dry_run first) -> AffectResult
//	GET  /packages/{id}/deployment-counts                     -> DeploymentCounts
//	GET  /packages/{id}/deployments?state=&site=              -> List[Deployment]
//
// # History
//
// The API version is the path prefix. Fields may be added within v1;
// removing or renaming one needs /api/v2.
package api
