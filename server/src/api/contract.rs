//! What every operation of `/openapi.json` says besides what its handler declares: the
//! answers any request can get from the layers in front of the handlers, in the media type
//! they really have. Handlers document their own outcomes (`201`, `404` of a missing record,
//! `409`, …); this module adds, to each operation, what it could not know:
//!
//! - every path parameter of the route's template, so that a client can be generated;
//! - `401` and `403` where a token is needed (a bad token; a role or an identity provider
//!   that grants none), `429` everywhere (the rate limit, with `Retry-After`), `503` (the
//!   request deadline, a busy database);
//! - `404` and `422` where the path has parameters (no such record; a malformed one), `422`
//!   where a query or body is read, `400`, `413` and `415` where a body is read;
//! - errors as `application/problem+json` (RFC 9457), which is what the server sends.

use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, OpenApi, Ref, RefOr, Required};

const PROBLEM: &str = "application/problem+json";

pub struct Contract;

impl utoipa::Modify for Contract {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let template: Vec<String> = path_parameters(path);
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                complete(operation, &template);
            }
        }
    }
}

/// The `{name}`s of a path template.
fn path_parameters(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(str::to_owned)
        .collect()
}

fn complete(operation: &mut Operation, template: &[String]) {
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    for name in template {
        let declared = parameters
            .iter()
            .any(|p| p.name == *name && p.parameter_in == ParameterIn::Path);
        if !declared {
            parameters.push(path_parameter(name));
        }
    }
    let has_query = parameters
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Query);
    let has_body = operation.request_body.is_some();
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let mut add = |status: &str, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(problem(description)));
    };
    if secured {
        add(
            "401",
            "no token, or one that is not valid (`WWW-Authenticate: Bearer`)",
        );
        add("403", "the caller's role may not do this");
    }
    if !template.is_empty() {
        add("404", "no such record in the caller's organization");
        add("422", "a path parameter is malformed; `field` names it");
    }
    if has_query || has_body {
        add(
            "422",
            "a parameter or a field fails validation; `field` names it",
        );
    }
    if has_body {
        add("400", "the body cannot be read");
        add("413", "the body is larger than the server takes");
        add("415", "the body is not of the media type the route takes");
    }
    add(
        "503",
        "the request took too long, or the database is busy; retry",
    );
    operation
        .responses
        .responses
        .entry("429".to_owned())
        .or_insert_with(|| RefOr::T(rate_limited()));
    for (status, response) in operation.responses.responses.iter_mut() {
        if let RefOr::T(response) = response {
            as_problem(response);
            // A 422 with a report (an import's) is a problem when a parameter is at fault.
            if status == "422" && !response.content.contains_key(PROBLEM) {
                response.content.insert(
                    PROBLEM.into(),
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                );
            }
        }
    }
}

fn path_parameter(name: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1)),
        ))
        .build()
}

fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

fn rate_limited() -> Response {
    let mut response = problem("too many requests from this address; wait `Retry-After` seconds");
    response.headers.insert(
        "Retry-After".into(),
        HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::Integer))
            .description(Some("seconds to wait"))
            .build(),
    );
    response
}

/// A response whose body is a `Problem` is sent as `application/problem+json`.
fn as_problem(response: &mut Response) {
    let is_problem = |content: &utoipa::openapi::Content| matches!(&content.schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/Problem"));
    if let Some(content) = response.content.get("application/json")
        && is_problem(content)
    {
        let content = content.clone();
        response.content.shift_remove("application/json");
        response.content.insert(PROBLEM.into(), content);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_declares_its_path_parameters_and_the_answers_of_every_layer() {
        let doc = super::super::openapi::document();
        for (path, item) in &doc.paths.paths {
            let template = path_parameters(path);
            for operation in [&item.get, &item.put, &item.post, &item.patch, &item.delete]
                .into_iter()
                .flatten()
            {
                let declared: Vec<&str> = operation
                    .parameters
                    .iter()
                    .flatten()
                    .filter(|p| p.parameter_in == ParameterIn::Path)
                    .map(|p| p.name.as_str())
                    .collect();
                for name in &template {
                    assert!(declared.contains(&name.as_str()), "{path}: {name}");
                }
                let statuses = &operation.responses.responses;
                assert!(statuses.contains_key("429"), "{path}");
                for (status, response) in statuses {
                    if let RefOr::T(response) = response {
                        let problem_as_json = response.content.get("application/json").is_some_and(
                            |c| matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/Problem")),
                        );
                        assert!(
                            !problem_as_json,
                            "{path} {status}: a problem documented as application/json"
                        );
                    }
                }
            }
        }
    }
}
