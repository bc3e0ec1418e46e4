"""The type stubs (_native.pyi, __init__.pyi) say what the package really
has: every name, every parameter (name, kind, default or not), every class
member and every Status member, compared with the module at run time."""

import ast
import inspect
import pathlib

import dispatch_core
from dispatch_core import _native

PACKAGE = pathlib.Path(dispatch_core.__file__).parent


def stub(name):
    path = PACKAGE / name
    assert path.is_file(), f"{name} is not installed with the package"
    return ast.parse(path.read_text())


def stub_names(tree):
    names = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
    return names


def stub_parameters(function):
    """(name, kind, has a default) of a stub's parameters, self dropped."""
    args = function.args
    out = []
    positional = args.posonlyargs + args.args
    first_default = len(positional) - len(args.defaults)
    for i, arg in enumerate(positional):
        out.append((arg.arg, "positional", i >= first_default))
    if args.vararg:
        out.append((args.vararg.arg, "var", False))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        out.append((arg.arg, "keyword", default is not None))
    if out and out[0][0] in ("self", "cls") and not any(
        isinstance(d, ast.Name) and d.id == "staticmethod" for d in function.decorator_list
    ):
        out = out[1:]
    return out


def runtime_parameters(callable_):
    kinds = {
        inspect.Parameter.POSITIONAL_ONLY: "positional",
        inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
        inspect.Parameter.VAR_POSITIONAL: "var",
        inspect.Parameter.KEYWORD_ONLY: "keyword",
    }
    out = []
    for p in inspect.signature(callable_).parameters.values():
        if p.name in ("self", "$self"):
            continue
        out.append((p.name, kinds[p.kind], p.default is not inspect.Parameter.empty))
    return out


def public(names):
    return {n for n in names if not n.startswith("_")}


def test_native_names_match():
    stubbed = public(stub_names(stub("_native.pyi")))
    runtime = public(dir(_native))
    assert stubbed == runtime, (
        f"missing from _native.pyi: {sorted(runtime - stubbed)}; "
        f"stubbed but absent: {sorted(stubbed - runtime)}"
    )


def test_native_functions_and_methods_match():
    checked = 0
    for name, node in stub_names(stub("_native.pyi")).items():
        value = getattr(_native, name)
        if isinstance(node, ast.FunctionDef):
            assert stub_parameters(node) == runtime_parameters(value), name
            checked += 1
        elif isinstance(node, ast.ClassDef):
            members = {}
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    members[item.name] = item
                elif isinstance(item, ast.AnnAssign):
                    members[item.target.id] = item
            runtime_members = public(vars(value))
            assert public(members) - {"__init__"} == runtime_members, name
            for member, item in members.items():
                if not isinstance(item, ast.FunctionDef):
                    continue
                is_property = any(
                    isinstance(d, ast.Name) and d.id == "property" for d in item.decorator_list
                )
                if member == "__init__":
                    assert stub_parameters(item) == runtime_parameters(value), name
                elif not is_property:
                    runtime = getattr(value, member)
                    assert stub_parameters(item) == runtime_parameters(runtime), f"{name}.{member}"
                checked += 1
    assert checked > 20


def test_package_stub_matches():
    tree = stub("__init__.pyi")
    names = set()
    status_members = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, ast.ClassDef) and node.name == "Status":
            for item in node.body:
                if isinstance(item, ast.Assign):
                    status_members[item.targets[0].id] = item.value.value
    assert set(dispatch_core.__all__) <= names, sorted(set(dispatch_core.__all__) - names)
    assert status_members == {s.name: s.value for s in dispatch_core.Status}
