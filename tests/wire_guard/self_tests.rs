//! Tests of the guard itself: each feeds it a mutated copy of the compiled
//! descriptors (nothing under proto/ is edited) and asserts the exact verdict.

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
    OneofDescriptorProto,
};

use super::breaking::breaking_changes;
use super::lint::{is_lower_snake, is_pascal, is_upper_snake, lint, upper_snake};
use super::model::WireModel;
use super::{REFRESH_COMMAND, Verdict, check, compile_proto_dir};

fn file<'a>(files: &'a mut [FileDescriptorProto], name: &str) -> &'a mut FileDescriptorProto {
    files
        .iter_mut()
        .find(|f| f.name() == name)
        .unwrap_or_else(|| panic!("no file {name}"))
}

fn message<'a>(files: &'a mut [FileDescriptorProto], name: &str) -> &'a mut DescriptorProto {
    files
        .iter_mut()
        .flat_map(|f| f.message_type.iter_mut())
        .find(|m| m.name() == name)
        .unwrap_or_else(|| panic!("no message {name}"))
}

fn field<'a>(
    files: &'a mut [FileDescriptorProto],
    message_name: &str,
    field_name: &str,
) -> &'a mut FieldDescriptorProto {
    message(files, message_name)
        .field
        .iter_mut()
        .find(|f| f.name() == field_name)
        .unwrap_or_else(|| panic!("no field {message_name}.{field_name}"))
}

/// The breaks, as printed, from proto/ to proto/ changed by `mutate`.
fn breaks_after(mutate: impl FnOnce(&mut Vec<FileDescriptorProto>)) -> Vec<String> {
    let base = compile_proto_dir();
    let mut changed = base.clone();
    mutate(&mut changed);
    breaking_changes(
        &WireModel::from_files(&base),
        &WireModel::from_files(&changed),
    )
    .iter()
    .map(ToString::to_string)
    .collect()
}

/// The verdict on `mutate`, with the lock taken as proto/ before it.
fn verdict_after(update: bool, mutate: impl FnOnce(&mut Vec<FileDescriptorProto>)) -> Verdict {
    let base = compile_proto_dir();
    let lock = WireModel::from_files(&base).render();
    let mut changed = base;
    mutate(&mut changed);
    check(Some(&lock), &WireModel::from_files(&changed), update)
}

#[test]
fn unchanged_descriptors_are_up_to_date() {
    assert_eq!(verdict_after(false, |_| {}), Verdict::UpToDate);
}

#[test]
fn render_then_parse_round_trips() {
    let model = WireModel::from_files(&compile_proto_dir());
    assert_eq!(WireModel::parse(&model.render()), Ok(model));
}

#[test]
fn renumbered_field() {
    let breaks = breaks_after(|files| field(files, "Call", "function").number = Some(901));
    assert_eq!(
        breaks,
        ["FIELD_SAME_NUMBER dispatch.sdk.v1.Call.function (3): field was renumbered from 3 to 901"]
    );
}

#[test]
fn changed_type() {
    let breaks = breaks_after(|files| field(files, "Call", "function").set_type(Type::Bytes));
    assert_eq!(
        breaks,
        ["FIELD_SAME_TYPE dispatch.sdk.v1.Call.function (3): type changed from string to bytes"]
    );
}

#[test]
fn changed_message_type() {
    let breaks = breaks_after(|files| {
        field(files, "Exit", "tail_call").type_name = Some(".dispatch.sdk.v1.CallResult".into());
    });
    assert_eq!(
        breaks,
        [
            "FIELD_SAME_TYPE dispatch.sdk.v1.Exit.tail_call (2): type changed from \
             message:dispatch.sdk.v1.Call to message:dispatch.sdk.v1.CallResult"
        ]
    );
}

#[test]
fn changed_json_name() {
    let breaks = breaks_after(|files| {
        field(files, "Call", "correlation_id").json_name = Some("correlation".into());
    });
    assert_eq!(
        breaks,
        [
            "FIELD_SAME_JSON_NAME dispatch.sdk.v1.Call.correlation_id (1): \
             JSON name changed from correlationId to correlation"
        ]
    );
}

#[test]
fn renamed_field_breaks_name_and_json_name() {
    let breaks = breaks_after(|files| {
        let renamed = field(files, "RunRequest", "creation_time");
        renamed.name = Some("created_at".into());
        renamed.json_name = Some("createdAt".into());
    });
    assert_eq!(
        breaks,
        [
            "FIELD_SAME_NAME dispatch.sdk.v1.RunRequest.creation_time (7): name changed from \
             creation_time to created_at (JSON parsers accept the original name)",
            "FIELD_SAME_JSON_NAME dispatch.sdk.v1.RunRequest.creation_time (7): \
             JSON name changed from creationTime to createdAt",
        ]
    );
}

#[test]
fn removed_field() {
    let breaks = breaks_after(|files| {
        message(files, "Error")
            .field
            .retain(|f| f.name() != "traceback");
    });
    assert_eq!(
        breaks,
        ["FIELD_NO_DELETE dispatch.sdk.v1.Error.traceback (4): field was removed"]
    );
}

#[test]
fn changed_label() {
    let breaks = breaks_after(|files| {
        field(files, "DispatchResponse", "dispatch_ids").set_label(Label::Optional);
    });
    assert_eq!(
        breaks,
        [
            "FIELD_SAME_LABEL dispatch.sdk.v1.DispatchResponse.dispatch_ids (1): \
             label changed from repeated to singular"
        ]
    );
}

#[test]
fn field_leaving_a_oneof() {
    let breaks = breaks_after(|files| field(files, "RunRequest", "input").oneof_index = None);
    assert_eq!(
        breaks,
        [
            "FIELD_SAME_ONEOF dispatch.sdk.v1.RunRequest.input (2): oneof changed from `directive` to none"
        ]
    );
}

#[test]
fn field_switching_oneofs() {
    let breaks = breaks_after(|files| {
        let run_request = message(files, "RunRequest");
        let other = i32::try_from(run_request.oneof_decl.len()).expect("few oneofs");
        run_request.oneof_decl.push(OneofDescriptorProto {
            name: Some("other".into()),
            options: None,
        });
        let poll_result = run_request
            .field
            .iter_mut()
            .find(|f| f.name() == "poll_result")
            .expect("poll_result");
        poll_result.oneof_index = Some(other);
    });
    assert_eq!(
        breaks,
        [
            "FIELD_SAME_ONEOF dispatch.sdk.v1.RunRequest.poll_result (3): \
             oneof changed from `directive` to `other`"
        ]
    );
}

/// Upstream's move of `Poll.coroutine_state` into the new oneof `state`
/// (PR #35), replayed backwards: the lock has it singular, proto/ in a oneof.
#[test]
fn singular_field_alone_into_new_oneof_is_allowed() {
    let base = compile_proto_dir();
    let mut before = base.clone();
    let poll = message(&mut before, "Poll");
    poll.field.retain(|f| f.name() != "typed_coroutine_state");
    poll.oneof_decl.clear();
    for f in &mut poll.field {
        f.oneof_index = None;
    }
    let locked = WireModel::from_files(&before);
    let current = WireModel::from_files(&base);
    assert_eq!(breaking_changes(&locked, &current), []);

    // The same move into a oneof holding another field that already existed
    // (min_results) would let old writers set both: it breaks.
    let mut both = base;
    let state = field(&mut both, "Poll", "coroutine_state").oneof_index;
    field(&mut both, "Poll", "min_results").oneof_index = state;
    let breaks: Vec<String> = breaking_changes(&locked, &WireModel::from_files(&both))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        breaks,
        [
            "FIELD_SAME_ONEOF dispatch.sdk.v1.Poll.coroutine_state (1): oneof changed from none to `state`",
            "FIELD_SAME_ONEOF dispatch.sdk.v1.Poll.min_results (5): oneof changed from none to `state`",
        ]
    );
}

#[test]
fn removed_or_renamed_enum_value() {
    let breaks = breaks_after(|files| {
        let status = &mut file(files, "dispatch/sdk/v1/status.proto").enum_type[0];
        status.value.retain(|v| v.name() != "STATUS_NOT_FOUND");
        status
            .value
            .iter_mut()
            .filter(|v| v.name() == "STATUS_TLS_ERROR")
            .for_each(|v| v.name = Some("STATUS_TLS_FAILURE".into()));
        status
            .value
            .iter_mut()
            .filter(|v| v.name() == "STATUS_OK")
            .for_each(|v| v.number = Some(901));
    });
    assert_eq!(
        breaks,
        [
            "ENUM_VALUE_SAME_NUMBER dispatch.sdk.v1.Status.STATUS_OK (1): value was renumbered from 1 to 901",
            "ENUM_VALUE_SAME_NAME dispatch.sdk.v1.Status.STATUS_TLS_ERROR (11): name changed from \
             STATUS_TLS_ERROR to STATUS_TLS_FAILURE (proto3 JSON carries the name)",
            "ENUM_VALUE_NO_DELETE dispatch.sdk.v1.Status.STATUS_NOT_FOUND (15): value was removed",
        ]
    );
}

#[test]
fn renamed_message_enum_and_package() {
    let breaks = breaks_after(|files| {
        message(files, "Pickled").name = Some("PickledValue".into());
        file(files, "dispatch/sdk/v1/status.proto").enum_type[0].name = Some("RunStatus".into());
        file(files, "dispatch/sdk/v1/error.proto").package = Some("dispatch.sdk.v2".into());
    });
    assert_eq!(
        breaks,
        [
            "FILE_SAME_PACKAGE dispatch/sdk/v1/error.proto: package changed from dispatch.sdk.v1 to dispatch.sdk.v2",
            "MESSAGE_NO_DELETE dispatch.sdk.python.v1.Pickled: message was removed or renamed \
             (its full name is part of Any type URLs)",
            "MESSAGE_NO_DELETE dispatch.sdk.v1.Error: message was removed or renamed \
             (its full name is part of Any type URLs)",
            "ENUM_NO_DELETE dispatch.sdk.v1.Status: enum was removed or renamed",
        ]
    );
}

#[test]
fn removed_file_and_service_changes() {
    let breaks = breaks_after(|files| {
        files.retain(|f| f.name() != "dispatch/sdk/v1/dispatch.proto");
        let run = &mut file(files, "dispatch/sdk/v1/function.proto").service[0].method[0];
        run.input_type = Some(".dispatch.sdk.v1.Poll".into());
        run.output_type = Some(".dispatch.sdk.v1.Exit".into());
        run.server_streaming = Some(true);
    });
    assert_eq!(
        breaks,
        [
            "FILE_NO_DELETE dispatch/sdk/v1/dispatch.proto: file was removed or renamed",
            "MESSAGE_NO_DELETE dispatch.sdk.v1.DispatchRequest: message was removed or renamed \
             (its full name is part of Any type URLs)",
            "MESSAGE_NO_DELETE dispatch.sdk.v1.DispatchResponse: message was removed or renamed \
             (its full name is part of Any type URLs)",
            "SERVICE_NO_DELETE dispatch.sdk.v1.DispatchService: service was removed or renamed \
             (its name is part of every RPC path)",
            "RPC_SAME_REQUEST_TYPE dispatch.sdk.v1.FunctionService.Run: request changed from \
             dispatch.sdk.v1.RunRequest to dispatch.sdk.v1.Poll",
            "RPC_SAME_RESPONSE_TYPE dispatch.sdk.v1.FunctionService.Run: response changed from \
             dispatch.sdk.v1.RunResponse to dispatch.sdk.v1.Exit",
            "RPC_SAME_SERVER_STREAMING dispatch.sdk.v1.FunctionService.Run: server streaming \
             changed from false to true",
        ]
    );
}

#[test]
fn renamed_method() {
    let breaks = breaks_after(|files| {
        file(files, "dispatch/sdk/v1/function.proto").service[0].method[0].name =
            Some("Execute".into());
    });
    assert_eq!(
        breaks,
        [
            "RPC_NO_DELETE dispatch.sdk.v1.FunctionService.Run: method was removed or renamed \
             (its name is part of the RPC path)"
        ]
    );
}

// Numbers far above any in use, so these stay additions as proto/ grows.
fn added_field(files: &mut [FileDescriptorProto]) {
    message(files, "Call").field.push(FieldDescriptorProto {
        name: Some("priority".into()),
        number: Some(900),
        label: Some(Label::Optional as i32),
        r#type: Some(Type::Int32 as i32),
        json_name: Some("priority".into()),
        ..Default::default()
    });
}

fn added_enum_value(files: &mut [FileDescriptorProto]) {
    file(files, "dispatch/sdk/v1/status.proto").enum_type[0]
        .value
        .push(EnumValueDescriptorProto {
            name: Some("STATUS_CANCELLED".into()),
            number: Some(900),
            options: None,
        });
}

#[test]
fn additions_fail_until_refreshed() {
    assert_eq!(
        breaks_after(|files| added_field(files)),
        Vec::<String>::new()
    );
    assert_eq!(
        breaks_after(|files| added_enum_value(files)),
        Vec::<String>::new()
    );
    let verdict = verdict_after(false, |files| {
        added_field(files);
        added_enum_value(files);
    });
    assert_eq!(
        verdict,
        Verdict::Fail(format!(
            "proto/ differs from proto/wire.lock without breaking it (an addition, or a \
             compatible change):\n\
             + field dispatch.sdk.v1.Call.priority = 900 type=int32 label=singular json=priority\n\
             + value dispatch.sdk.v1.Status.STATUS_CANCELLED = 900\n\
             If this is intended, refresh the lock and commit it:\n  {REFRESH_COMMAND}"
        ))
    );
}

#[test]
fn refresh_records_additions() {
    let Verdict::Refresh(text) = verdict_after(true, |files| added_field(files)) else {
        panic!("an addition with the update variable set must refresh the lock");
    };
    assert!(text.contains(
        "\nfield dispatch.sdk.v1.Call.priority = 900 type=int32 label=singular json=priority\n"
    ));
}

#[test]
fn refresh_never_records_a_break() {
    let verdict = verdict_after(true, |files| {
        added_field(files);
        field(files, "Call", "function").number = Some(901);
    });
    assert_eq!(
        verdict,
        Verdict::Fail(
            "1 wire- or JSON-breaking change(s) in proto/ against proto/wire.lock:\n  \
             FIELD_SAME_NUMBER dispatch.sdk.v1.Call.function (3): field was renumbered from 3 to 901\n\
             proto/wire.lock was NOT refreshed: a refresh never records a breaking change.\n\
             Undo them: peers built from the locked protocol would misread these messages. \
             See docs/wire-guard.md."
                .to_owned()
        )
    );
}

#[test]
fn unreadable_lock_fails_even_when_refreshing() {
    let current = WireModel::from_files(&compile_proto_dir());
    let Verdict::Fail(message) = check(Some("field x.Y.z = one\n"), &current, true) else {
        panic!("a lock that does not parse must fail");
    };
    assert!(message.starts_with("proto/wire.lock cannot be read (line 1: `one` is not a number"));
}

#[test]
fn lint_reports_style_problems() {
    let mut files = compile_proto_dir();
    field(&mut files, "Call", "correlation_id").name = Some("correlationId".into());
    message(&mut files, "Exit").name = Some("exit_directive".into());
    {
        let status = &mut file(&mut files, "dispatch/sdk/v1/status.proto").enum_type[0];
        status.value[0].name = Some("STATUS_NONE".into());
        status.value[1].name = Some("OK".into());
    }
    {
        let function = file(&mut files, "dispatch/sdk/v1/function.proto");
        function.syntax = Some("proto2".into());
        function.package = Some("dispatch.sdk".into());
        function.public_dependency = vec![0];
        function.service[0].name = Some("Functions".into());
    }
    {
        let dispatch = &mut file(&mut files, "dispatch/sdk/v1/dispatch.proto").service[0];
        dispatch.method[0].name = Some("send_calls".into());
    }
    assert_eq!(
        lint(&files),
        [
            "FIELD_LOWER_SNAKE_CASE dispatch.sdk.v1.Call.correlationId (1): field name is not lower_snake_case",
            "RPC_PASCAL_CASE dispatch.sdk.v1.DispatchService.send_calls: RPC name is not PascalCase",
            "RPC_REQUEST_STANDARD_NAME dispatch.sdk.v1.DispatchService.send_calls: DispatchRequest \
             should be named send_callsRequest or Dispatchsend_callsRequest",
            "RPC_RESPONSE_STANDARD_NAME dispatch.sdk.v1.DispatchService.send_calls: DispatchResponse \
             should be named send_callsResponse or Dispatchsend_callsResponse",
            "MESSAGE_PASCAL_CASE dispatch.sdk.v1.exit_directive: message name is not PascalCase",
            "FILE_SYNTAX_PROTO3 dispatch/sdk/v1/function.proto: syntax is `proto2`, not proto3",
            "IMPORT_NO_PUBLIC dispatch/sdk/v1/function.proto: `import public` is not allowed",
            "PACKAGE_VERSION_SUFFIX dispatch.sdk: package does not end in a version such as v1 or v1beta1",
            "PACKAGE_DIRECTORY_MATCH dispatch/sdk/v1/function.proto: package dispatch.sdk belongs in directory dispatch/sdk/",
            "SERVICE_SUFFIX dispatch.sdk.Functions: service name does not end in Service",
            "ENUM_ZERO_VALUE_SUFFIX dispatch.sdk.v1.Status.STATUS_NONE (0): the zero value does not end in _UNSPECIFIED",
            "ENUM_VALUE_PREFIX dispatch.sdk.v1.Status.OK (1): value name does not start with STATUS_",
        ]
    );
}

#[test]
fn lint_flags_a_message_shared_by_two_rpcs() {
    let mut files = compile_proto_dir();
    let run = &mut file(&mut files, "dispatch/sdk/v1/function.proto").service[0];
    let mut second = run.method[0].clone();
    second.name = Some("Rerun".into());
    run.method.push(second);
    let findings = lint(&files);
    assert!(
        findings.contains(
            &"RPC_REQUEST_RESPONSE_UNIQUE dispatch.sdk.v1.RunRequest: used by more than one RPC: \
          dispatch.sdk.v1.FunctionService.Run, dispatch.sdk.v1.FunctionService.Rerun"
                .to_owned()
        )
    );
}

#[test]
fn case_helpers() {
    assert!(
        is_lower_snake("typed_coroutine_state") && is_lower_snake("v1") && is_lower_snake("a2b")
    );
    assert!(!is_lower_snake("typedState") && !is_lower_snake("_x") && !is_lower_snake("a__b"));
    assert!(is_upper_snake("STATUS_DNS_ERROR") && !is_upper_snake("STATUS_dns"));
    assert!(is_pascal("RunRequest") && !is_pascal("Run_Request") && !is_pascal("runRequest"));
    assert_eq!(upper_snake("Status"), "STATUS");
    assert_eq!(upper_snake("HTTPMethod"), "HTTP_METHOD");
    assert_eq!(upper_snake("RunStatus2"), "RUN_STATUS2");
}
