//! [`App`]: the command bus over one store. It owns the aggregate caches and runs every
//! command through load, decide, append and retry.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tracing::Instrument as _;

use crate::model::aggregate::Aggregate;
use crate::model::command::HandledCommand;
use crate::model::envelope::CommandContext;
use crate::model::projection::Projection;
use crate::model::query::HandledQuery;
use crate::model::registry::{Registry, RegistryError};
use crate::read::QueryError;
use crate::read::{Pipeline, ProjectionRunner, ReadModelStore, RunnerError, RunningProjection};
use crate::store::EventStore;
use crate::util::backoff::Backoff;
use crate::wire::codec::{Codec, JsonCodec};
use crate::write::cache::{AggregateCache, Slot};
use crate::write::error::CommandError;
use crate::write::execute::{ExecuteResult, Limits, LoadError, Request};
use crate::write::middleware::{CommandMiddleware, Report};

/// An application: a store, a codec and the aggregates of the linked crates.
///
/// Cheap to clone; clones share the store and the caches.
///
/// ```rust,standalone_crate
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use eventsmith::{App, Command, Event, InMemoryStore, aggregate};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Serialize, Deserialize, Event)]
/// struct Pinged { n: u32 }
///
/// #[derive(Clone, Command)]
/// struct Ping { #[command(id)] id: String }
///
/// #[derive(Default)]
/// struct Pinger { pings: u32 }
///
/// #[aggregate]
/// impl Pinger {
///     #[handle]
///     fn ping(&self, _cmd: Ping) -> Pinged {
///         Pinged { n: self.pings + 1 }
///     }
///     #[apply]
///     fn pinged(&mut self, event: &Pinged) {
///         self.pings = event.n;
///     }
/// }
///
/// let app = App::new(InMemoryStore::new())?;
/// app.execute(Ping { id: "p".into() }).await?;
/// let done = app.execute(Ping { id: "p".into() }).await?;
/// assert_eq!(done.version, 2);
/// # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct App<S, C = JsonCodec, M = ()> {
    inner: Arc<Inner<S, C, M>>,
}

impl<S, C, M> Clone for App<S, C, M> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// Values keyed by a type: the aggregate caches, the running projections.
type ByType = RwLock<HashMap<TypeId, Arc<dyn Any + Send + Sync>, foldhash::fast::FixedState>>;

#[derive(Debug)]
struct Inner<S, C, M> {
    store: S,
    codec: C,
    middleware: M,
    limits: Limits,
    cache_capacity: usize,
    caches: ByType,
    /// The `RunningProjection<P>` of each projection type started here.
    projections: ByType,
    registry: Registry,
}

/// Configures an [`App`].
#[derive(Debug)]
#[must_use]
pub struct AppBuilder<S, C = JsonCodec, M = ()> {
    store: S,
    codec: C,
    middleware: M,
    limits: Limits,
    cache_capacity: usize,
    registry: Option<Registry>,
}

impl<S: EventStore> App<S> {
    /// An application over `store` with the JSON codec and default settings, validating the
    /// registrations of the linked crates.
    ///
    /// # Errors
    /// [`RegistryError`] when two event types or two aggregates clash.
    pub fn new(store: S) -> Result<Self, RegistryError> {
        Self::builder(store).build()
    }

    /// Starts configuring an application over `store`.
    pub fn builder(store: S) -> AppBuilder<S> {
        AppBuilder {
            store,
            codec: JsonCodec,
            middleware: (),
            limits: Limits {
                max_attempts: 10,
                backoff: Backoff::default(),
                read_batch: 1024,
            },
            cache_capacity: 10_000,
            registry: None,
        }
    }
}

impl<S: EventStore, C: Codec, M: CommandMiddleware> AppBuilder<S, C, M> {
    /// Uses another codec for event payloads.
    pub fn codec<C2: Codec>(self, codec: C2) -> AppBuilder<S, C2, M> {
        AppBuilder {
            store: self.store,
            codec,
            middleware: self.middleware,
            limits: self.limits,
            cache_capacity: self.cache_capacity,
            registry: self.registry,
        }
    }

    /// Adds a [`CommandMiddleware`] inside the ones added before: every command, whoever
    /// sends it, passes through each middleware's `before` in the order they were added,
    /// and through their `after` in the reverse order.
    ///
    /// ```
    /// use eventsmith::{App, CommandContext, InMemoryStore};
    /// use eventsmith::command::{Authorize, CommandInfo, Logging};
    ///
    /// let signed_in = Authorize::new(|_: &CommandInfo<'_>, context: &CommandContext| {
    ///     context.actor.as_ref().map(|_| ()).ok_or_else(|| "sign in first".to_owned())
    /// });
    /// let app = App::builder(InMemoryStore::new())
    ///     .middleware(Logging)
    ///     .middleware(signed_in)
    ///     .build()?;
    /// # let _ = app;
    /// # Ok::<_, eventsmith::registry::RegistryError>(())
    /// ```
    pub fn middleware<M2: CommandMiddleware>(self, middleware: M2) -> AppBuilder<S, C, (M, M2)> {
        AppBuilder {
            store: self.store,
            codec: self.codec,
            middleware: (self.middleware, middleware),
            limits: self.limits,
            cache_capacity: self.cache_capacity,
            registry: self.registry,
        }
    }

    /// How many times a decision is tried when appends keep conflicting (default 10; at
    /// least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.limits.max_attempts = attempts.max(1);
        self
    }

    /// The wait between decisions after version conflicts (default: exponential from 1 ms up
    /// to 100 ms with jitter; the first retry is always immediate).
    pub fn conflict_backoff(mut self, backoff: Backoff) -> Self {
        self.limits.backoff = backoff;
        self
    }

    /// How many aggregates per type stay loaded in memory (default 10,000; 0 disables the
    /// cache, so every command re-reads its aggregate's history).
    pub fn cache_capacity(mut self, aggregates: usize) -> Self {
        self.cache_capacity = aggregates;
        self
    }

    /// How many events are read per round trip when loading an aggregate (default 1,024).
    pub fn read_batch(mut self, events: usize) -> Self {
        self.limits.read_batch = events.max(1);
        self
    }

    /// Uses a registry built by hand instead of the `inventory` registrations.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Validates the registry and builds the application.
    ///
    /// # Errors
    /// [`RegistryError`] when two event types or two aggregates clash.
    pub fn build(self) -> Result<App<S, C, M>, RegistryError> {
        let registry = match self.registry {
            Some(registry) => registry,
            None => Registry::from_inventory()?,
        };
        Ok(App {
            inner: Arc::new(Inner {
                store: self.store,
                codec: self.codec,
                middleware: self.middleware,
                limits: self.limits,
                cache_capacity: self.cache_capacity,
                caches: RwLock::default(),
                projections: RwLock::default(),
                registry,
            }),
        })
    }
}

impl<S: EventStore, C: Codec, M: CommandMiddleware> App<S, C, M> {
    /// Executes a command with an empty [`CommandContext`].
    ///
    /// The command is routed to the aggregate whose `#[handle]` method takes it; a command no
    /// aggregate handles does not compile.
    ///
    /// The command passes through the application's [middleware](AppBuilder::middleware)
    /// and its own validation (`#[handle(validate = path)]`) before anything is loaded.
    ///
    /// # Errors
    /// [`CommandError`]: the domain error of its validation or handler, a middleware's
    /// refusal, a conflict that persisted through every attempt, a panic in user code, or a
    /// store failure. On every error but a store failure nothing was appended; after a store
    /// failure (a connection lost during the commit) the append may have happened: retry
    /// with the same idempotency key to find out safely.
    pub async fn execute<Cmd: HandledCommand>(&self, command: Cmd) -> ExecuteResult<Cmd> {
        self.run(command, CommandContext::default()).await
    }

    /// Executes a command whose events inherit the context's metadata (as the middleware
    /// leaves it).
    ///
    /// # Errors
    /// As [`App::execute`].
    pub async fn execute_with<Cmd: HandledCommand>(
        &self,
        command: Cmd,
        context: &CommandContext,
    ) -> ExecuteResult<Cmd> {
        self.run(command, context.clone()).await
    }

    /// The middleware's `before`, the execution under the stream's slot, the middleware's
    /// `after`. A middleware that waits (a rate limit) does not hold the slot.
    async fn run<Cmd: HandledCommand>(
        &self,
        command: Cmd,
        mut context: CommandContext,
    ) -> ExecuteResult<Cmd> {
        let started = Instant::now();
        let stream = Cmd::Aggregate::stream_id(&command.aggregate_id());
        let span = tracing::debug_span!(
            "execute",
            command = Cmd::NAME,
            stream = %stream,
            correlation_id = context.correlation_id.map(tracing::field::display),
        );
        let middleware = &self.inner.middleware;
        let outcome = async {
            if let Err(refusal) = middleware.before(&command, &mut context).await {
                return Err(CommandError::Refused {
                    command: Cmd::NAME,
                    refusal,
                });
            }
            let cache = self.cache::<Cmd::Aggregate>();
            let slot = cache.slot(&stream);
            let mut slot = slot.lock().await;
            self.request()
                .execute(&mut slot, stream, &command, &context)
                .await
        }
        .instrument(span)
        .await;
        let report = Report {
            command: &command,
            context: &context,
            outcome: &outcome,
            elapsed: started.elapsed(),
        };
        middleware.after(&report);
        outcome
    }

    /// Loads aggregate `A` with `id` from the store, bypassing the cache. Answers the state and
    /// its stream version (0 when the stream does not exist).
    ///
    /// # Errors
    /// [`LoadError`] when the store fails, an event does not decode or `apply` panics.
    pub async fn load<A: Aggregate>(&self, id: &str) -> Result<(A, u64), LoadError> {
        let mut slot = Slot::<A>::default();
        self.request().load(&mut slot, &A::stream_id(id)).await?;
        Ok((slot.state, slot.version))
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// The codec.
    pub fn codec(&self) -> &C {
        &self.inner.codec
    }

    /// The validated registry of event types and aggregates.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    fn request(&self) -> Request<'_, S, C> {
        Request {
            store: &self.inner.store,
            codec: &self.inner.codec,
            limits: self.inner.limits,
        }
    }

    /// The cache of aggregate type `A`, created on first use.
    fn cache<A: Aggregate>(&self) -> Arc<AggregateCache<A>> {
        let id = TypeId::of::<A>();
        let found = self
            .inner
            .caches
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned();
        let any = match found {
            Some(any) => any,
            None => Arc::clone(
                self.inner
                    .caches
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(id)
                    .or_insert_with(|| {
                        Arc::new(AggregateCache::<A>::new(self.inner.cache_capacity))
                    }),
            ),
        };
        // Entries are keyed by the TypeId of the cache's own aggregate type, so this cannot
        // fail; if it ever did, serving the command uncached would also drop the per-stream
        // serialisation that the cache's slots give, so it is a bug to surface, not to hide.
        any.downcast::<AggregateCache<A>>().unwrap_or_else(|_| {
            unreachable!("the aggregate cache under a type's id is of another type")
        })
    }
}

impl<S: EventStore, C: Codec + Clone, M> App<S, C, M> {
    /// Starts `projection` over this application's store and codec with the default runner
    /// settings, and serves its `#[query]` methods through [`App::query`]. A read model in
    /// memory is rebuilt from the log; a SQL read model (a projection with
    /// `context = SqliteConnection` on a `SqliteStore`, `PgConnection` on a `PgStore`) keeps
    /// its tables in the store's database, commits them with its checkpoint and resumes
    /// from it, and its queries read them through a connection of their own.
    ///
    /// # Errors
    /// [`RunnerError::AlreadyStarted`] when a projection of this type runs here already; the
    /// store's error when the runner cannot open its connection or load its checkpoint.
    pub async fn start_projection<P: Projection + Sync>(
        &self,
        projection: P,
    ) -> Result<RunningProjection<P>, RunnerError>
    where
        S: ReadModelStore<P::Context>,
    {
        self.start_projection_with(projection, |runner| runner)
            .await
    }

    /// As [`App::start_projection`], with the runner configured by `configure` (error policy,
    /// batch size, pipeline, resuming from a checkpoint).
    ///
    /// # Errors
    /// As [`App::start_projection`].
    pub async fn start_projection_with<P: Projection + Sync, Pl: Pipeline>(
        &self,
        projection: P,
        configure: impl FnOnce(
            ProjectionRunner<S, P, C, SinkOf<S, P>>,
        ) -> ProjectionRunner<S, P, C, SinkOf<S, P>, Pl>,
    ) -> Result<RunningProjection<P>, RunnerError>
    where
        S: ReadModelStore<P::Context>,
    {
        if self
            .running::<P>()
            .is_some_and(|running| running.progress().is_running())
        {
            return Err(RunnerError::AlreadyStarted {
                projection: P::NAME,
            });
        }
        let store_error = |cause| RunnerError::Store {
            projection: P::NAME,
            cause,
        };
        let (sink, queries) = self
            .inner
            .store
            .read_model::<P>()
            .await
            .map_err(store_error)?;
        let runner = ProjectionRunner::with_sink(self.inner.store.clone(), projection, sink)
            .codec(self.inner.codec.clone());
        let running = configure(runner).start().await.map_err(store_error)?;
        let served = Served {
            running: running.clone(),
            queries,
        };
        self.inner
            .projections
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(TypeId::of::<P>(), Arc::new(served));
        Ok(running)
    }
}

/// The sink `S` gives the runner of `P`.
type SinkOf<S, P> = <S as ReadModelStore<<P as Projection>::Context>>::Sink<P>;

/// What `S` keeps for the queries of `P`.
type QueriesOf<S, P> = <S as ReadModelStore<<P as Projection>::Context>>::Queries;

/// A projection started in an `App`: its handle, and what its queries read through.
struct Served<P, Q> {
    running: RunningProjection<P>,
    queries: Q,
}

impl<S: EventStore, C: Codec, M> App<S, C, M> {
    /// Asks the projection that answers `Q`. By default the answer reflects whatever the
    /// projection has handled; [`QueryRequest::after`] waits until it has handled a given
    /// position first (read your own writes). Await the request to run it.
    ///
    /// A query type that no `#[query]` method takes does not compile.
    pub fn query<Q: HandledQuery>(&self, query: Q) -> QueryRequest<'_, S, C, Q, M> {
        QueryRequest {
            app: self,
            query,
            after: None,
            timeout: crate::read::query::DEFAULT_WAIT,
        }
    }

    /// The running projection of type `P`, if one was started in this application.
    #[must_use]
    pub fn running<P: Projection + Sync>(&self) -> Option<RunningProjection<P>>
    where
        S: ReadModelStore<P::Context>,
    {
        self.served::<P>().map(|served| served.running.clone())
    }

    /// What was started for `P` here.
    fn served<P: Projection + Sync>(&self) -> Option<Arc<Served<P, QueriesOf<S, P>>>>
    where
        S: ReadModelStore<P::Context>,
    {
        let any = self
            .inner
            .projections
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&TypeId::of::<P>())
            .cloned()?;
        // Entries are keyed by the TypeId of their own projection type, and one `App` has
        // one store type.
        any.downcast().ok()
    }
}

/// A query on its way: await it, or first say which write it must see, as in
/// `app.query(Balance { account }).after(done.position).await?` where `done` is what
/// [`App::execute`] answered (the [projections guide](crate::guide::projections) walks
/// through it).
#[derive(Debug)]
#[must_use = "a query does nothing until it is awaited"]
pub struct QueryRequest<'a, S, C, Q, M = ()> {
    app: &'a App<S, C, M>,
    query: Q,
    after: Option<u64>,
    timeout: Duration,
}

impl<'a, S: EventStore, C: Codec, Q: HandledQuery, M: CommandMiddleware>
    QueryRequest<'a, S, C, Q, M>
{
    /// Answers only once the projection has handled every event up to `position` (pass
    /// [`Executed::position`](crate::command::Executed::position) of your command; `None` waits for
    /// nothing).
    pub fn after(mut self, position: impl Into<Option<u64>>) -> Self {
        self.after = position.into();
        self
    }

    /// How long [`after`](Self::after) may wait (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn run(self) -> Result<Q::Output, QueryError>
    where
        S: ReadModelStore<Context<Q>>,
    {
        let projection = <Q::Projection as Projection>::NAME;
        let served = self
            .app
            .served::<Q::Projection>()
            .ok_or(QueryError::NotStarted { projection })?;
        if let Some(position) = self.after {
            served.running.wait_for(position, self.timeout).await?;
        }
        let context = self
            .app
            .inner
            .store
            .query_context(&served.queries)
            .await
            .map_err(|cause| QueryError::Store { projection, cause })?;
        let state = served.running.read().await;
        crate::util::panic::future(Q::answer(&state, self.query, &context))
            .await
            .map_err(|message| QueryError::Panicked {
                query: std::any::type_name::<Q>(),
                message,
            })
    }
}

/// The context of the projection that answers `Q`.
type Context<Q> = <<Q as HandledQuery>::Projection as Projection>::Context;

impl<'a, S: ReadModelStore<Context<Q>>, C: Codec, Q: HandledQuery, M: CommandMiddleware> IntoFuture
    for QueryRequest<'a, S, C, Q, M>
{
    type Output = Result<Q::Output, QueryError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}
