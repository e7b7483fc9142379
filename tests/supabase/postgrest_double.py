"""A test double of a Supabase project's Data API (PostgREST behind Supabase's API gateway).

There is no Supabase and no PostgREST binary here, so the tests run the real ``supabase`` client
against this small Starlette app, which serves exactly what ``SupabaseStore`` sends and runs it on
the real PostgreSQL the way PostgREST does: each request is one transaction that switches to the
JWT's role (``SET LOCAL ROLE``) and publishes its claims (``request.jwt.claims``), so row-level
security, ``auth.uid()``, triggers and grants behave as on Supabase.

What it covers:

* the gateway: ``apikey`` must be an HS256 JWT signed with the project secret (else 401
  ``Invalid API key``, as Supabase answers); ``Authorization: Bearer`` picks the role (PGRST301 for a
  bad JWT, PGRST303 for an expired one), falling back to the apikey's role;
* ``GET /rest/v1/<table or view>`` with ``select`` (column lists), filters ``eq neq gt gte lt lte
  like ilike match imatch is in`` (and ``not.``), ``order`` (``.asc/.desc/.nullsfirst/.nullslast``,
  several columns), ``limit``, ``offset``, ``Prefer: count=exact`` with ``Content-Range``, 206 for a
  partial range and 416 (PGRST103) for an offset past the end; reads run in a read-only transaction;
* ``POST`` (insert; an object or an array, ``columns``; upsert with ``Prefer: resolution=…`` and
  ``on_conflict``), ``PATCH`` (update) and ``DELETE`` with filters, ``Prefer: return=representation``
  (the rows, with ``select``) or ``return=minimal`` (no body);
* ``GET/POST /rest/v1/rpc/<function>`` with named arguments (a JSON object, or query parameters on
  GET), the function chosen by its argument names as PostgREST does, its result as JSON;
* ``Accept-Profile`` / ``Content-Profile``: only ``public`` is exposed (else PGRST106);
* errors shaped ``{code, message, details, hint}``: PostgreSQL's SQLSTATE with PostgREST's HTTP status
  (``PTxyz`` gives status xyz), PGRST205 / PGRST202 / PGRST204 for a table / function / column missing
  from the "schema cache" (the catalog), and PGRST100 / PGRST117 for anything this double does not
  implement (``or``/``and``, embedding, JSON paths, casts, other methods), so a store that starts to
  rely on more fails loudly instead of being served something PostgREST would not do.
"""

from __future__ import annotations

import json
import queue
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
import psycopg
from psycopg import sql
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["PostgrestDouble"]

SCHEMA = "public"
_OPERATORS = {
    "eq": "=",
    "neq": "<>",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "like": "LIKE",
    "ilike": "ILIKE",
    "match": "~",
    "imatch": "~*",
}
_IS_VALUES = {"null": "NULL", "true": "TRUE", "false": "FALSE", "unknown": "UNKNOWN"}
_RESERVED_PARAMS = {"select", "order", "limit", "offset", "columns", "on_conflict"}
_IDENTIFIER = re.compile(r'^(?:[A-Za-z_][A-Za-z0-9_]*|"[^"]+")$')


class ApiError(Exception):
    """An answer with a PostgREST-shaped error body."""

    def __init__(
        self, status: int, code: str | None, message: str, details: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"code": code, "details": details, "hint": hint, "message": message}
        if code is None:  # the gateway's answers carry no code
            self.body = {"message": message, "hint": hint}


def _unsupported(what: str) -> ApiError:
    return ApiError(400, "PGRST100", f"the PostgREST test double does not implement {what}")


def _status_of(sqlstate: str) -> int:
    """PostgREST's HTTP status for a PostgreSQL error (docs: references/errors)."""
    if re.fullmatch(r"PT\d{3}", sqlstate):
        return int(sqlstate[2:])
    exact = {"23503": 409, "23505": 409, "25006": 405, "42883": 404, "42P01": 404, "42501": 403, "P0001": 400}
    if sqlstate in exact:
        return exact[sqlstate]
    prefixes = {
        "08": 503,
        "53": 503,
        "0L": 403,
        "0P": 403,
        "28": 403,
        "40": 500,
        "57": 500,
        "P0": 500,
        "XX": 500,
    }
    return prefixes.get(sqlstate[:2], 400)


def _unquote(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise _unsupported(f"the column expression {name!r}")
    return name[1:-1] if name.startswith('"') else name


def _split_list(text: str) -> list[str]:
    """``a,b,"c,d"`` → ``['a', 'b', 'c,d']`` (PostgREST's quoting of reserved characters)."""
    items: list[str] = []
    current, quoted, escaped = "", False, False
    for char in text:
        if escaped:
            current, escaped = current + char, False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    return items


@dataclass
class _Query:
    """The parts of a request's query string that become SQL."""

    table: str
    select: sql.Composable = field(default_factory=lambda: sql.SQL("*"))
    where: list[sql.Composable] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    order: list[sql.Composable] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0

    def where_sql(self) -> sql.Composable:
        return sql.SQL(" WHERE {}").format(sql.SQL(" AND ").join(self.where)) if self.where else sql.SQL("")


class _Pool:
    """Idle connections to reuse (a request costs a transaction, not a connection)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._idle: queue.SimpleQueue[psycopg.Connection[Any]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._all: list[psycopg.Connection[Any]] = []

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = psycopg.connect(
                self._url, autocommit=True, options="-c timezone=UTC", application_name="postgrest-double"
            )
            with self._lock:
                self._all.append(conn)
        try:
            yield conn
        finally:
            if conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.close()
            else:
                self._idle.put(conn)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()


class PostgrestDouble:
    """The Data API of one "project": a database and the secret its JWTs are signed with."""

    def __init__(self, database_url: str, jwt_secret: str) -> None:
        self._pool = _Pool(database_url)
        self._secret = jwt_secret
        self.requests: list[tuple[str, str]] = []  # (method, path?query): what the client sent
        self.app = Starlette(
            routes=[
                Route(
                    "/rest/v1/rpc/{function}",
                    self._endpoint,
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                ),
                Route("/rest/v1/{table}", self._endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
                Route("/{path:path}", _no_route, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            ]
        )

    def close(self) -> None:
        self._pool.close()

    async def _endpoint(self, request: Request) -> Response:
        body = await request.body()
        return await run_in_threadpool(self._answer, request, body)

    def _answer(self, request: Request, body: bytes) -> Response:
        query = request.url.query
        self.requests.append((request.method, request.url.path + (f"?{query}" if query else "")))
        try:
            claims = self._claims(request)
            self._check_profile(request)
            with self._pool.connection() as conn:
                try:
                    return self._in_transaction(conn, request, body, claims)
                except psycopg.Error as e:
                    diag = e.diag
                    code = diag.sqlstate or "XX000"
                    raise ApiError(
                        _status_of(code),
                        code,
                        diag.message_primary or str(e),
                        diag.message_detail,
                        diag.message_hint,
                    ) from e
        except ApiError as e:
            return Response(json.dumps(e.body), status_code=e.status, media_type="application/json")

    # ------------------------------------------------------------------ gateway and auth

    def _decode(self, token: str) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            token, self._secret, algorithms=["HS256"], options={"verify_aud": False}
        )
        return claims

    def _claims(self, request: Request) -> dict[str, Any]:
        apikey = request.headers.get("apikey")
        if not apikey:
            raise ApiError(
                401,
                None,
                "No API key found in request",
                hint="No `apikey` request header or url param was found.",
            )
        try:
            key_claims = self._decode(apikey)
        except jwt.PyJWTError:
            raise ApiError(
                401,
                None,
                "Invalid API key",
                hint="Double check your Supabase `anon` or `service_role` API key.",
            ) from None
        authorization = request.headers.get("authorization", "")
        if not authorization.lower().startswith("bearer "):
            return key_claims
        try:
            return self._decode(authorization[len("bearer ") :])
        except jwt.ExpiredSignatureError:
            raise ApiError(401, "PGRST303", "JWT expired") from None
        except jwt.PyJWTError:
            raise ApiError(401, "PGRST301", "JWSError JWSInvalidSignature") from None

    def _check_profile(self, request: Request) -> None:
        header = "accept-profile" if request.method == "GET" else "content-profile"
        profile = request.headers.get(header, SCHEMA)
        if profile != SCHEMA:
            raise ApiError(
                406,
                "PGRST106",
                "Invalid schema: " + profile,
                hint=f"Only the following schemas are exposed: {SCHEMA}",
            )

    # ------------------------------------------------------------------ one request, one transaction

    def _in_transaction(
        self, conn: psycopg.Connection[Any], request: Request, body: bytes, claims: dict[str, Any]
    ) -> Response:
        with conn.transaction():
            if request.method == "GET":
                conn.execute("SET TRANSACTION READ ONLY")
            role = str(claims.get("role") or "anon")
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
            conn.execute("SELECT set_config('request.jwt.claims', %s, true)", [json.dumps(claims)])
            if "function" in request.path_params:
                return self._rpc(conn, request, body)
            return self._table(conn, request, body)

    def _table(self, conn: psycopg.Connection[Any], request: Request, body: bytes) -> Response:
        table = request.path_params["table"]
        columns = self._columns(conn, table)
        query = self._query(table, request, columns)
        prefer = _prefer(request)
        if request.method == "GET":
            return self._select(conn, query, prefer)
        if request.method == "POST":
            return self._insert(conn, query, request, _json(body), columns, prefer)
        if request.method == "PATCH":
            payload = _json(body)
            if not isinstance(payload, dict):
                raise ApiError(400, "PGRST102", "Empty or invalid json")
            target = sql.SQL(
                "UPDATE {} AS _target SET {} FROM json_populate_record(NULL::{}, %s::json) AS _body{}"
            ).format(
                sql.Identifier(SCHEMA, table),
                sql.SQL(", ").join(
                    sql.SQL("{} = _body.{}").format(sql.Identifier(c), sql.Identifier(c))
                    for c in _known(payload, columns, table)
                ),
                sql.Identifier(SCHEMA, table),
                query.where_sql(),
            )
            return self._mutation(conn, target, [json.dumps(payload), *query.params], query, prefer, 200)
        if request.method == "DELETE":
            target = sql.SQL("DELETE FROM {} AS _target{}").format(
                sql.Identifier(SCHEMA, table), query.where_sql()
            )
            return self._mutation(conn, target, query.params, query, prefer, 200)
        raise ApiError(405, "PGRST117", f"Unsupported HTTP method: {request.method}")

    def _columns(self, conn: psycopg.Connection[Any], table: str) -> list[str]:
        """The table's columns, from the catalog (PostgREST's schema cache)."""
        rows = conn.execute(
            "SELECT a.attname FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'v', 'm', 'p', 'f') "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            [SCHEMA, table],
        ).fetchall()
        if not rows:
            raise ApiError(
                404, "PGRST205", f"Could not find the table '{SCHEMA}.{table}' in the schema cache"
            )
        return [r[0] for r in rows]

    def _query(self, table: str, request: Request, columns: list[str]) -> _Query:
        query = _Query(table)
        for key, value in request.query_params.multi_items():
            if key == "select":
                if value.strip() != "*":
                    if any(ch in value for ch in "():!"):
                        raise _unsupported(f"select={value} (embedding, aliases or casts)")
                    query.select = sql.SQL(", ").join(
                        sql.Identifier(_unquote(c.strip())) for c in value.split(",")
                    )
            elif key == "order":
                query.order = [_order_term(term) for term in value.split(",")]
            elif key == "limit":
                query.limit = int(value)
            elif key == "offset":
                query.offset = int(value)
            elif key in _RESERVED_PARAMS:
                continue
            elif key in ("or", "and", "not.or", "not.and") or "." in key or "->" in key:
                raise _unsupported(f"the filter {key}={value}")
            else:
                column = _unquote(key)
                if column not in columns:
                    raise ApiError(400, "42703", f"column {table}.{column} does not exist")
                condition, params = _condition(column, value)
                query.where.append(condition)
                query.params.extend(params)
        return query

    def _select(self, conn: psycopg.Connection[Any], query: _Query, prefer: dict[str, str]) -> Response:
        page = sql.SQL("SELECT {} FROM {} AS _target{}{}{}{}").format(
            query.select,
            sql.Identifier(SCHEMA, query.table),
            query.where_sql(),
            sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(query.order)) if query.order else sql.SQL(""),
            sql.SQL(" LIMIT {}").format(sql.Literal(query.limit)) if query.limit is not None else sql.SQL(""),
            sql.SQL(" OFFSET {}").format(sql.Literal(query.offset)) if query.offset else sql.SQL(""),
        )
        rows = _fetch_json(
            conn,
            sql.SQL("SELECT coalesce(json_agg(_page), '[]') FROM ({}) AS _page").format(page),
            query.params,
        )
        total: int | None = None
        if prefer.get("count") == "exact":
            counted = conn.execute(
                sql.SQL("SELECT count(*) FROM {} AS _target{}").format(
                    sql.Identifier(SCHEMA, query.table), query.where_sql()
                ),
                query.params,
            ).fetchone()
            total = int(counted[0]) if counted else 0
            if query.offset > total:
                raise ApiError(
                    416,
                    "PGRST103",
                    "Requested range not satisfiable",
                    f"An offset of {query.offset} was requested, but there are only {total} rows.",
                )
        shown = "*" if total is None else str(total)
        span = f"{query.offset}-{query.offset + len(rows) - 1}" if rows else "*"
        partial = total is not None and (query.offset > 0 or query.offset + len(rows) < total)
        return Response(
            json.dumps(rows),
            status_code=206 if partial else 200,
            media_type="application/json",
            headers={"Content-Range": f"{span}/{shown}"},
        )

    def _insert(
        self,
        conn: psycopg.Connection[Any],
        query: _Query,
        request: Request,
        payload: Any,
        columns: list[str],
        prefer: dict[str, str],
    ) -> Response:
        rows = payload if isinstance(payload, list) else [payload]
        if not rows or not all(isinstance(r, dict) for r in rows):
            raise ApiError(400, "PGRST102", "Empty or invalid json")
        listed = request.query_params.get("columns")
        names = [_unquote(c) for c in _split_list(listed)] if listed else list(rows[0])
        inserted = _known(dict.fromkeys(names), columns, query.table)
        if prefer.get("missing") == "default":
            raise _unsupported("Prefer: missing=default")
        conflict = sql.SQL("")
        resolution = prefer.get("resolution")
        if resolution:
            targets = request.query_params.get("on_conflict")
            if not targets:
                raise _unsupported("an upsert without on_conflict")
            keys = sql.SQL(", ").join(sql.Identifier(_unquote(c)) for c in targets.split(","))
            if resolution == "ignore-duplicates":
                conflict = sql.SQL(" ON CONFLICT ({}) DO NOTHING").format(keys)
            else:
                conflict = sql.SQL(" ON CONFLICT ({}) DO UPDATE SET {}").format(
                    keys,
                    sql.SQL(", ").join(
                        sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
                        for c in inserted
                    ),
                )
        names_sql = sql.SQL(", ").join(sql.Identifier(c) for c in inserted)
        target = sql.SQL(
            "INSERT INTO {} AS _target ({}) SELECT {} FROM json_populate_recordset(NULL::{}, %s::json){}"
        ).format(
            sql.Identifier(SCHEMA, query.table),
            names_sql,
            names_sql,
            sql.Identifier(SCHEMA, query.table),
            conflict,
        )
        return self._mutation(conn, target, [json.dumps(rows)], query, prefer, 201)

    def _mutation(
        self,
        conn: psycopg.Connection[Any],
        statement: sql.Composable,
        params: list[Any],
        query: _Query,
        prefer: dict[str, str],
        status: int,
    ) -> Response:
        if prefer.get("return") == "representation":
            wrapped = sql.SQL(
                "WITH _rows AS ({} RETURNING _target.*) "
                "SELECT coalesce(json_agg(_out), '[]') FROM (SELECT {} FROM _rows) AS _out"
            ).format(statement, query.select)
            return Response(
                json.dumps(_fetch_json(conn, wrapped, params)),
                status_code=status,
                media_type="application/json",
            )
        conn.execute(statement, params)
        return Response(status_code=201 if status == 201 else 204)

    # ------------------------------------------------------------------ functions

    def _rpc(self, conn: psycopg.Connection[Any], request: Request, body: bytes) -> Response:
        name = request.path_params["function"]
        if request.method == "POST":
            args = _json(body) if body else {}
            if not isinstance(args, dict):
                raise _unsupported("an RPC body that is not a JSON object")
        elif request.method == "GET":
            args = {k: v for k, v in request.query_params.items() if k not in _RESERVED_PARAMS}
        else:
            raise ApiError(405, "PGRST101", "Only GET and POST verbs are allowed for functions")
        signature = self._function(conn, name, set(args))
        call = sql.SQL("SELECT to_json({}({})) FROM json_to_record(%s::json) AS _args({})").format(
            sql.Identifier(SCHEMA, name),
            sql.SQL(", ").join(
                sql.SQL("{} := _args.{}").format(sql.Identifier(a), sql.Identifier(a))
                for a, _ in signature
                if a in args
            ),
            sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(a), sql.SQL(t)) for a, t in signature if a in args
            )
            if args
            else sql.SQL("_none int"),
        )
        row = conn.execute(call, [json.dumps(args)]).fetchone()
        return Response(json.dumps(row[0] if row else None), media_type="application/json")

    def _function(self, conn: psycopg.Connection[Any], name: str, given: set[str]) -> list[tuple[str, str]]:
        """The (argument, type) list of the function ``name`` whose arguments fit the names given."""
        candidates = conn.execute(
            "SELECT p.pronargdefaults, coalesce(p.proargnames, '{}'), "
            "array(SELECT format_type(t, NULL) FROM unnest(p.proargtypes::oid[]) AS t) "
            "FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace "
            "WHERE n.nspname = %s AND p.proname = %s",
            [SCHEMA, name],
        ).fetchall()
        for defaults, names, types in candidates:
            arguments = list(zip(names, types, strict=False))
            required = {a for a, _ in arguments[: len(arguments) - defaults]}
            if required <= given <= {a for a, _ in arguments}:
                return arguments
        described = f"({', '.join(sorted(given))})" if given else " without parameters"
        raise ApiError(
            404,
            "PGRST202",
            f"Could not find the function {SCHEMA}.{name}{described} in the schema cache",
            hint="If a new function was created in the database with this name and parameters, "
            "try reloading the schema cache.",
        )


def _no_route(_request: Request) -> Response:
    return Response(
        json.dumps({"message": "no Route matched with those values"}),
        status_code=404,
        media_type="application/json",
    )


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise ApiError(400, "PGRST102", "Empty or invalid json") from None


def _prefer(request: Request) -> dict[str, str]:
    preferences: dict[str, str] = {}
    for header in request.headers.getlist("prefer"):
        for item in header.split(","):
            key, _, value = item.strip().partition("=")
            preferences[key] = value
    return preferences


def _known(names: dict[str, Any], columns: list[str], table: str) -> list[str]:
    for name in names:
        if name not in columns:
            raise ApiError(
                400, "PGRST204", f"Could not find the '{name}' column of '{table}' in the schema cache"
            )
    return list(names)


def _order_term(term: str) -> sql.Composable:
    column, *modifiers = term.split(".")
    words = {"asc": "ASC", "desc": "DESC", "nullsfirst": "NULLS FIRST", "nullslast": "NULLS LAST"}
    if any(m not in words for m in modifiers):
        raise _unsupported(f"order={term}")
    return sql.SQL(" ").join([sql.Identifier(_unquote(column)), *(sql.SQL(words[m]) for m in modifiers)])


def _condition(column: str, expression: str) -> tuple[sql.Composable, list[Any]]:
    negate = expression.startswith("not.")
    operator, _, value = expression.removeprefix("not.").partition(".")
    target = sql.Identifier("_target", column)
    params: list[Any] = []
    if operator in _OPERATORS:
        if operator in ("like", "ilike"):
            value = value.replace("*", "%")
        condition: sql.Composable = sql.SQL("{} {} %s").format(target, sql.SQL(_OPERATORS[operator]))
        params.append(value)
    elif operator == "is" and value.lower() in _IS_VALUES:
        condition = sql.SQL("{} IS {}").format(target, sql.SQL(_IS_VALUES[value.lower()]))
    elif operator == "in" and value.startswith("(") and value.endswith(")"):
        items = _split_list(value[1:-1])
        condition = sql.SQL("{} IN ({})").format(target, sql.SQL(", ").join(sql.Placeholder() * len(items)))
        params.extend(items)
    else:
        raise _unsupported(f"the operator in {column}={expression}")
    return (sql.SQL("NOT ({})").format(condition) if negate else condition), params


def _fetch_json(conn: psycopg.Connection[Any], statement: sql.Composable, params: list[Any]) -> Any:
    row = conn.execute(statement, params).fetchone()
    return row[0] if row else None
