"""Read a user pool: configuration, groups, users (in concurrent chains), memberships.

Every call goes through the Pacer, which keeps each quota category within its rate. Nothing here
writes to Cognito; nothing here logs attribute values.
"""

from __future__ import annotations

import base64
import itertools
import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore import xform_name
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from cognito_backup.aws import logo
from cognito_backup.aws.errors import aws_code, error_code, translate_client_error
from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.sections import Verdict, classify, is_aws_answer
from cognito_backup.errors import AwsError, CognitoBackupError
from cognito_backup.model import Group, Membership, PoolConfig, PoolState, User, jsonable

HEX_DIGITS = "0123456789abcdef"
PAGE = 60
# An optional configuration read that keeps failing transiently is asked this many times (each ask is
# itself up to botocore's attempts) before its section is marked unreadable; waits double from BACKOFF.
OPTIONAL_ATTEMPTS = 3
OPTIONAL_BACKOFF = 1.0


@dataclass
class ReadProgress:
    """Callbacks for progress displays (the CLI renders them; the library stays silent)."""

    users: Callable[[int], None] = lambda n: None
    memberships: Callable[[int], None] = lambda n: None
    note: Callable[[str], None] = lambda msg: None


class _Done:
    pass


_DONE = _Done()
_FED = _Done()  # one more task queued by a feeder of late tasks


class PoolReader:
    def __init__(
        self,
        client: Any,
        pacer: Pacer,
        user_pool_id: str,
        *,
        chains: int = 16,
        progress: ReadProgress | None = None,
        workers: int = 8,
        fetch_logo: Callable[[str], bytes] = logo.fetch_logo,
    ) -> None:
        self.client = client
        self.pacer = pacer
        self.pool_id = user_pool_id
        self.chains = chains
        self.progress = progress or ReadProgress()
        self.workers = workers
        self.used_chains = 1
        self.fetch_logo = fetch_logo

    # ---- calls ----------------------------------------------------------------------------------
    def call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        method = getattr(self.client, _snake(operation))
        try:
            result: dict[str, Any] = self.pacer.call(operation, method, pool_id=self.pool_id, **kwargs)
        except ClientError as exc:
            raise translate_client_error(exc, f"{operation} on user pool {self.pool_id}") from exc
        return result

    def _optional(
        self, operation: str, config: PoolConfig, *, per_item: bool = False, **kwargs: Any
    ) -> dict[str, Any] | None:
        """A configuration read some pools or endpoints do not offer. None when the section is not
        offered (recorded in `config.unavailable`) or could not be read (recorded in `config.incomplete`:
        the snapshot is then incomplete), or when the one item a `per_item` read asks about has none.
        Only a vanished pool or endless throttling fails the backup."""
        method = getattr(self.client, _snake(operation))
        attempt = 0
        while True:
            attempt += 1
            try:
                result: dict[str, Any] = self.pacer.call(operation, method, pool_id=self.pool_id, **kwargs)
                return result
            except NotImplementedError:  # moto in-process for calls it lacks
                config.unavailable[operation] = "not implemented by this endpoint"
                return None
            except (ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError) as exc:
                code, verdict, content_type, status = _judge(operation, exc, per_item=per_item)
                if verdict is Verdict.NONE:
                    return None
                if verdict is Verdict.NOT_OFFERED:
                    config.unavailable[operation] = (
                        code if is_aws_answer(code, content_type) else f"HTTP {status} without an AWS error"
                    )
                    return None
                if verdict is Verdict.TRANSIENT and attempt < OPTIONAL_ATTEMPTS:
                    self.pacer.sleep(OPTIONAL_BACKOFF * 2 ** (attempt - 1))
                    continue
                if verdict in (Verdict.POOL_GONE, Verdict.THROTTLED):
                    raise translate_client_error(exc, f"{operation} on user pool {self.pool_id}") from exc
                config.incomplete[operation] = _unreadable_reason(verdict, code, attempt)
                self.progress.note(f"{operation} could not be read ({config.incomplete[operation]})")
                return None

    def _optional_pages(
        self, operation: str, items_key: str, config: PoolConfig, **kwargs: Any
    ) -> list[dict[str, Any]]:
        """Every item of an optional paginated read (NextToken); what it gives when a page fails is
        marked by `_optional` (not offered, or incomplete)."""
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        token: str | None = None
        while True:
            args = dict(kwargs, UserPoolId=self.pool_id)
            if token:
                args["NextToken"] = token
            resp = self._optional(operation, config, **args)
            if resp is None:
                return items
            items.extend(resp.get(items_key, []))
            token = _next_token(operation, resp.get("NextToken"), seen)
            if not token:
                return items

    # ---- configuration --------------------------------------------------------------------------
    def describe_pool(self) -> dict[str, Any]:
        """DescribeUserPool: the first answer that proves the pool exists."""
        pool: dict[str, Any] = self.call("DescribeUserPool", UserPoolId=self.pool_id)["UserPool"]
        return pool

    def read_config(self, pool: dict[str, Any] | None = None) -> PoolConfig:
        """The pool's configuration; `pool` is its DescribeUserPool answer when already read."""
        config = PoolConfig()
        if pool is None:
            pool = self.describe_pool()
        config.user_pool = jsonable(pool)
        config.tags = dict(pool.get("UserPoolTags", {}) or {})
        arn = pool.get("Arn")

        def mfa() -> None:
            answer = self._optional("GetUserPoolMfaConfig", config, UserPoolId=self.pool_id)
            config.mfa_config = jsonable(answer) if answer else {}

        def tags() -> None:
            answer = self._optional("ListTagsForResource", config, ResourceArn=arn) if arn else None
            if answer is not None:
                config.tags = dict(answer.get("Tags", {}))

        def clients() -> None:
            config.clients = [
                jsonable(
                    self.call("DescribeUserPoolClient", UserPoolId=self.pool_id, ClientId=c["ClientId"])[
                        "UserPoolClient"
                    ]
                )
                for c in self._pages("ListUserPoolClients", "UserPoolClients", "NextToken", MaxResults=PAGE)
            ]
            self._per_client(config)

        def identity_providers() -> None:
            idps = []
            for p in self._optional_pages("ListIdentityProviders", "Providers", config, MaxResults=PAGE):
                idp = self.call("DescribeIdentityProvider", UserPoolId=self.pool_id, ProviderName=p["ProviderName"])
                idps.append(jsonable(idp["IdentityProvider"]))
            config.identity_providers = idps

        def resource_servers() -> None:
            config.resource_servers = [
                jsonable(rs)
                for rs in self._optional_pages("ListResourceServers", "ResourceServers", config, MaxResults=50)
            ]

        def domain() -> None:
            for field_name in ("Domain", "CustomDomain"):
                name = pool.get(field_name)
                if name:
                    desc = self._optional("DescribeUserPoolDomain", config, Domain=name)
                    if desc and desc.get("DomainDescription"):
                        config.domain = jsonable(desc["DomainDescription"])
                        return

        def ui() -> None:
            answer = self._optional("GetUICustomization", config, UserPoolId=self.pool_id)
            config.ui_customization = self._with_logo(answer.get("UICustomization"), config) if answer else None

        def risk() -> None:
            answer = self._optional("DescribeRiskConfiguration", config, UserPoolId=self.pool_id)
            config.risk_configuration = jsonable(answer.get("RiskConfiguration")) if answer else None

        def replicas() -> None:
            config.replicas = [
                jsonable(r) for r in self._optional_pages("ListUserPoolReplicas", "UserPoolReplicas", config)
            ]

        def sessions() -> None:
            answer = self._optional("GetUserPoolSessionConfiguration", config, UserPoolId=self.pool_id)
            if answer:
                config.session_configuration = {
                    k: jsonable(answer[k]) for k in ("UserSessionTracking", "TokenSession") if k in answer
                }

        def log_delivery() -> None:
            answer = self._optional("GetLogDeliveryConfiguration", config, UserPoolId=self.pool_id)
            if answer:
                config.log_delivery = jsonable(
                    (answer.get("LogDeliveryConfiguration") or {}).get("LogConfigurations", [])
                )

        def terms() -> None:
            config.terms = self._described(
                self._optional_pages("ListTerms", "Terms", config, MaxResults=PAGE),
                "DescribeTerms",
                "TermsId",
                "Terms",
                config,
            )

        def cimd_policies() -> None:
            config.cimd_policies = self._described(
                self._optional_pages("ListCIMDPolicies", "CIMDPolicies", config, MaxResults=PAGE),
                "DescribeCIMDPolicy",
                "CIMDPolicyId",
                "CIMDPolicy",
                config,
            )

        # The sections are independent and mostly in different quota categories (the pacer keeps each
        # within its rate): read together, the configuration takes as long as its slowest section, not
        # the sum of them all. Each section sets its own fields; the first error is raised.
        sections = (
            mfa, tags, clients, identity_providers, resource_servers, domain, ui, risk, replicas, sessions,
            log_delivery, terms, cimd_policies,
        )  # fmt: skip
        with ThreadPoolExecutor(max_workers=len(sections), thread_name_prefix="cognito-config") as pool_:
            for future in [pool_.submit(section) for section in sections]:
                future.result()
        return config

    def _described(
        self, summaries: list[dict[str, Any]], operation: str, id_key: str, body_key: str, config: PoolConfig
    ) -> list[dict[str, Any]]:
        """Each listed item's full description (a list gives summaries only); one deleted in between is
        left out."""
        items = []
        for summary in summaries:
            answer = self._optional(
                operation, config, per_item=True, UserPoolId=self.pool_id, **{id_key: summary[id_key]}
            )
            if answer and answer.get(body_key):
                items.append(jsonable(answer[body_key]))
        return items

    def _per_client(self, config: PoolConfig) -> None:
        """The settings Cognito keeps per app client under calls of their own (there is no listing of
        them): its managed login style, session configuration, hosted UI customization and risk
        configuration. A call the endpoint or pool does not offer is asked for the first client only."""
        reads = (
            ("DescribeManagedLoginBrandingByClient", "ManagedLoginBranding", config.managed_login_branding),
            ("GetUserPoolClientSessionConfiguration", "SSOSession", config.client_session_configuration),
            ("GetUICustomization", "UICustomization", config.client_ui_customization),
            ("DescribeRiskConfiguration", "RiskConfiguration", config.client_risk_configuration),
        )
        for client in config.clients:
            client_id = str(client["ClientId"])
            for operation, key, into in reads:
                if operation in config.unavailable:
                    continue
                answer = self._optional(operation, config, per_item=True, UserPoolId=self.pool_id, ClientId=client_id)
                body = (answer or {}).get(key)
                if not body or body.get("ClientId", client_id) != client_id:
                    continue  # none, or the pool-wide one (ClientId "ALL") answered for a client without its own
                if key == "ManagedLoginBranding":
                    into[client_id] = branding_record(body)
                elif key == "UICustomization":
                    into[client_id] = self._with_logo(body, config) or {}
                else:
                    into[client_id] = jsonable(body)

    def _with_logo(self, ui: dict[str, Any] | None, config: PoolConfig) -> dict[str, Any] | None:
        """A UI customization with its logo's bytes (base64 `ImageFile`: SetUICustomization takes bytes, not
        the URL). A logo that cannot be fetched makes the section incomplete (aws/logo.py)."""
        if not ui:
            return None
        record: dict[str, Any] = jsonable(ui)
        url = record.get("ImageUrl")
        if url:
            try:
                record["ImageFile"] = base64.b64encode(self.fetch_logo(str(url))).decode("ascii")
            except logo.LogoUnavailable as exc:
                config.incomplete["GetUICustomization"] = f"the logo at {url} could not be fetched ({exc})"
                self.progress.note(f"GetUICustomization: {config.incomplete['GetUICustomization']}")
        return record

    def _pages(self, operation: str, items_key: str, token_key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        token: str | None = None
        seen: set[str] = set()
        while True:
            args = dict(kwargs, UserPoolId=self.pool_id)
            if token:
                args[token_key] = token
            resp = self.call(operation, **args)
            yield from resp.get(items_key, [])
            token = _next_token(operation, resp.get(token_key), seen)
            if not token:
                return

    # ---- groups and memberships -----------------------------------------------------------------
    def iter_groups(self) -> Iterator[Group]:
        for item in self._pages("ListGroups", "Groups", "NextToken", Limit=PAGE):
            yield Group.from_api(item)

    def iter_group_members(self, group: str) -> Iterator[str]:
        try:
            for item in self._pages("ListUsersInGroup", "Users", "NextToken", GroupName=group, Limit=PAGE):
                yield str(item["Username"])
        except AwsError as err:
            if aws_code(err) != "ResourceNotFoundException":
                raise
            # The group was deleted while we read: the change journal records that deletion.
            self.progress.note(f"group {group!r} disappeared during the read; its memberships are skipped")

    def iter_memberships(self, groups: Iterable[str]) -> Iterator[Membership]:
        """Memberships of every group, groups read concurrently (ListUsersInGroup per group)."""
        names = list(groups)

        def produce(name: str, out: Callable[[Any], None]) -> None:
            for username in self.iter_group_members(name):
                out(Membership(group=name, username=username))

        yield from _fan_in(names, produce, self.workers, self.progress.memberships)

    # ---- users --------------------------------------------------------------------------------
    def _user_chain(self, filt: str | None, out: Callable[[Any], None]) -> None:
        token: str | None = None
        previous: set[str] = set()
        seen: set[str] = set()
        while True:
            page, token = self.list_users_page(filt, token)
            token = _next_token("ListUsers", token, seen)
            current = {u.username for u in page}
            for user in page:
                # Within one chain Cognito returns no duplicates; this guards the page seam only, so
                # memory stays one page, not one pool.
                if user.username not in previous:
                    out(user)
            previous = current
            if not token:
                return

    def _prefix_filter_supported(self) -> bool:
        if self.chains <= 1:
            return False
        try:
            users, _ = self.list_users_page('sub ^= "0"', None, limit=1)
        except CognitoBackupError as err:
            if aws_code(err) == "InvalidParameterException":
                self.progress.note("this endpoint refuses sub prefix filters: listing users in one chain")
                return False
            raise
        if not all((user.sub or "").startswith("0") for user in users):
            # An endpoint that accepts the filter but ignores it would list every user in all 16 chains.
            self.progress.note("this endpoint ignores sub prefix filters: listing users in one chain")
            return False
        return True

    def iter_users(self) -> Iterator[User]:
        """Every user once. With prefix filters, one chain per leading hex digit of `sub` runs
        concurrently: subs are lowercase UUIDs, so the chains partition the pool and never overlap."""
        filters = self.user_list_filters()

        def produce(filt: str | None, out: Callable[[Any], None]) -> None:
            self._user_chain(filt, out)

        workers = min(len(filters), max(1, self.chains))
        yield from _fan_in(filters, produce, workers, self.progress.users)

    # ---- single pages (for resumable reads: the caller keeps the token between invocations) ------
    def user_list_filters(self) -> list[str | None]:
        """The ListUsers chains `iter_users` would run: one per leading hex digit of `sub`, or one
        unfiltered chain when the endpoint refuses prefix filters."""
        if self._prefix_filter_supported():
            filters: list[str | None] = [f'sub ^= "{d}"' for d in HEX_DIGITS]
        else:
            filters = [None]
        self.used_chains = len(filters)
        return filters

    def list_users_page(
        self, filt: str | None, token: str | None, *, limit: int = PAGE
    ) -> tuple[list[User], str | None]:
        """One ListUsers page of a chain, and the token of the next page (None at the end): every
        ListUsers the tool makes goes through here (chains, rescans, lookups by one attribute)."""
        args: dict[str, Any] = {"UserPoolId": self.pool_id, "Limit": limit}
        if filt:
            args["Filter"] = filt
        if token:
            args["PaginationToken"] = token
        resp = self.call("ListUsers", **args)
        users = [User.from_api(u) for u in resp.get("Users", [])]
        return users, _next_token("ListUsers", resp.get("PaginationToken"), _sent(token))

    def list_groups_page(self, token: str | None) -> tuple[list[Group], str | None]:
        args: dict[str, Any] = {"UserPoolId": self.pool_id, "Limit": PAGE}
        if token:
            args["NextToken"] = token
        resp = self.call("ListGroups", **args)
        return [Group.from_api(g) for g in resp.get("Groups", [])], _next_token(
            "ListGroups", resp.get("NextToken"), _sent(token)
        )

    def list_group_members_page(self, group: str, token: str | None) -> tuple[list[str], str | None]:
        """One ListUsersInGroup page. A group deleted meanwhile reads as empty, as in iter_group_members."""
        args: dict[str, Any] = {"UserPoolId": self.pool_id, "GroupName": group, "Limit": PAGE}
        if token:
            args["NextToken"] = token
        try:
            resp = self.call("ListUsersInGroup", **args)
        except AwsError as err:
            if aws_code(err) != "ResourceNotFoundException":
                raise
            self.progress.note(f"group {group!r} disappeared during the read; its memberships are skipped")
            return [], None
        members = [str(u["Username"]) for u in resp.get("Users", [])]
        return members, _next_token("ListUsersInGroup", resp.get("NextToken"), _sent(token))

    def find_user(self, attr: str, value: str) -> User | None:
        """The user whose `attr` ("username", "sub", "email", ...) equals `value`, re-read without
        AdminGetUser (which would bill the user as a monthly active user): one filtered ListUsers. The
        match is checked here too: an endpoint may compare case-insensitively or ignore the filter."""
        users, _ = self.list_users_page(f'{attr} = "{quote_filter_value(value)}"', None, limit=2)
        for user in users:
            if (user.username if attr == "username" else user.attributes.get(attr)) == value:
                return user
        return None

    def find_users(self, queries: list[tuple[str, str]]) -> Iterator[tuple[tuple[str, str], User | None]]:
        """`find_user` for each (attr, value), on the reader's chains at once (the Pacer keeps them within
        the UserList quota): each query with its user, in arrival order."""

        def produce(query: tuple[str, str], out: Callable[[Any], None]) -> None:
            out((query, self.find_user(*query)))

        yield from _fan_in(queries, produce, min(len(queries), max(1, self.chains)), lambda n: None)

    def user_groups(self, username: str) -> list[str]:
        groups = []
        for item in self._pages("AdminListGroupsForUser", "Groups", "NextToken", Username=username, Limit=PAGE):
            groups.append(str(item["GroupName"]))
        return groups

    def mfa_preferences(self, username: str) -> dict[str, Any]:
        """AdminGetUser: bills the user as a monthly active user (hence opt-in)."""
        resp = self.call("AdminGetUser", UserPoolId=self.pool_id, Username=username)
        return {
            "preferred": resp.get("PreferredMfaSetting"),
            "enabled": sorted(resp.get("UserMFASettingList", []) or []),
        }

    def read_state(self) -> PoolState:
        """The whole pool (the restore planner's 'actual' side): users and memberships are streamed into
        the state, which spills them to disk past a few thousand (flat memory)."""
        config = self.read_config()
        groups = list(self.iter_groups())
        memberships = self.iter_memberships(g.name for g in groups)
        return PoolState.build(config, groups, self.iter_users(), memberships)


def branding_record(branding: dict[str, Any]) -> dict[str, Any]:
    """A managed login style as the snapshot keeps it: JSON, each asset's bytes base64-encoded (jsonable
    would decode them as text and lose every byte that is not UTF-8)."""
    assets = [
        {**asset, "Bytes": base64.b64encode(asset["Bytes"]).decode("ascii")}
        if isinstance(asset.get("Bytes"), bytes)
        else dict(asset)
        for asset in branding.get("Assets") or []
    ]
    record: dict[str, Any] = jsonable({**branding, "Assets": assets})
    return record


def _judge(operation: str, exc: Exception, *, per_item: bool = False) -> tuple[str, Verdict, str, int]:
    """(code, verdict, content type, HTTP status) of a failed optional read. A connection that failed
    after botocore's attempts is transient like a 5xx."""
    if not isinstance(exc, ClientError):
        return type(exc).__name__, Verdict.TRANSIENT, "", 0
    code = error_code(exc)
    meta = exc.response.get("ResponseMetadata", {})
    status = int(meta.get("HTTPStatusCode") or 0)
    content_type = str((meta.get("HTTPHeaders") or {}).get("content-type", ""))
    message = str(exc.response.get("Error", {}).get("Message", ""))
    return (
        code,
        classify(operation, code, status=status, content_type=content_type, message=message, per_item=per_item),
        content_type,
        status,
    )


def _unreadable_reason(verdict: Verdict, code: str, attempts: int) -> str:
    if verdict is Verdict.DENIED:
        return f"access denied ({code})"
    if verdict is Verdict.TRANSIENT:
        return f"{code} after {attempts} attempts"
    return f"AWS error {code}"


def _next_token(operation: str, token: Any, seen: set[str]) -> str | None:
    """The next page's token, or None at the end. Cognito never hands out a token twice in one listing;
    an endpoint that ignores paging tokens (cognito-local ignores Limit and tokens and answers the whole
    list) could, and following it would never end: stop with an error instead of looping."""
    if not token:
        return None
    value = str(token)
    if value in seen:
        raise AwsError(f"{operation}: the endpoint returned the same pagination token twice; stopped reading")
    seen.add(value)
    return value


def _sent(token: str | None) -> set[str]:
    return {token} if token else set()


def quote_filter_value(value: str) -> str:
    """A value inside a ListUsers filter's double quotes."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _snake(operation: str) -> str:
    """boto3's method name for an operation, by botocore's own rule (ListCIMDPolicies ->
    list_cimd_policies, GetUICustomization -> get_ui_customization)."""
    return str(xform_name(operation))


def _fan_in(
    tasks: list[Any],
    produce: Callable[[Any, Callable[[Any], None]], None],
    workers: int,
    count: Callable[[int], None],
    late: Callable[[Callable[[Any], None]], None] | None = None,
    capacity: int | None = None,
) -> Generator[Any]:
    """Run `produce(task, out)` for every task on `workers` threads and yield what they output, in
    arrival order. The threads share one work queue: a thread that finishes a task takes the next one,
    so none idles while tasks remain. `late(add)`, when given, runs on a thread of its own and adds
    tasks known only after a read (the groups' membership chains, as their pages arrive); they go ahead
    of the tasks not started yet. The output queue is bounded, so slow consumers hold producers back
    and memory stays flat (`capacity` items; by default a few pages of records per worker, for
    producers that output one record at a time). The first error stops every producer and is
    re-raised here."""
    if not tasks and late is None:
        return
    items: queue.Queue[Any] = queue.Queue(maxsize=capacity or 4 * PAGE * max(1, workers))
    # (priority, sequence, task): late tasks (priority 0) before the initial ones, each in given order.
    work: queue.PriorityQueue[tuple[int, int, Any]] = queue.PriorityQueue()
    for seq, task in enumerate(tasks):
        work.put((1, seq, task))
    stop = threading.Event()
    left = threading.Event()  # the consumer is gone: nobody reads `items` any more

    class _Stopped(Exception):
        pass

    def offer(item: Any, until: threading.Event) -> bool:
        """Put `item` for the consumer, waiting while the queue is full; False once `until` is set."""
        while not until.is_set():
            try:
                items.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def out(item: Any) -> None:
        if not offer(item, stop):
            raise _Stopped

    def signal(item: Any) -> None:
        """A control message (a task done or added, a failure): never blocks once the consumer is gone."""
        offer(item, left)

    def fail(exc: BaseException) -> None:
        stop.set()
        signal(_Failure(exc))

    def worker() -> None:
        while not stop.is_set():
            _, _, task = work.get()
            if task is _DONE:
                return
            try:
                produce(task, out)
            except _Stopped:
                return
            except BaseException as exc:
                fail(exc)
                return
            signal(_DONE)

    fed = itertools.count()

    def add(task: Any) -> None:
        # Counted before it can be taken, so its end never arrives before the consumer expects it.
        if stop.is_set():
            raise _Stopped
        signal(_FED)
        work.put((0, next(fed), task))

    def feed(late: Callable[[Callable[[Any], None]], None]) -> None:
        try:
            late(add)
        except _Stopped:
            return
        except BaseException as exc:
            fail(exc)
            return
        signal(_DONE)

    threads = max(1, workers)
    pool = ThreadPoolExecutor(max_workers=threads + (1 if late else 0), thread_name_prefix="cognito-read")
    try:
        if late is not None:
            pool.submit(feed, late)
        for _ in range(threads):
            pool.submit(worker)
        remaining = len(tasks) + (1 if late is not None else 0)  # the feeder counts until it has fed
        produced = 0
        while remaining:
            item = items.get()
            if item is _DONE:
                remaining -= 1
                continue
            if item is _FED:
                remaining += 1
                continue
            if isinstance(item, _Failure):
                raise item.exc
            produced += 1
            if produced % PAGE == 0:
                count(produced)
            yield item
        count(produced)
    finally:
        stop.set()
        left.set()
        # Wake every idle worker at once (they block on the work queue: a poll would delay the end of
        # every listing by its interval), unblock producers waiting on a full queue, then wait for them.
        for n in range(threads):
            work.put((-1, n, _DONE))
        while True:
            try:
                items.get_nowait()
            except queue.Empty:
                break
        pool.shutdown(wait=True, cancel_futures=True)


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
