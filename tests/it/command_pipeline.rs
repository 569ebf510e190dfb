//! The command pipeline on a SQLite file: a command's validation refuses it before anything
//! loads; middleware runs around every command in order, may refuse it (authorization, rate
//! limits) or enrich its context; a saga's commands pass through it too.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventsmith::command::{
    Authorize, CommandInfo, CommandMiddleware, Enrich, HandledCommand, Logging, RateKey, RateLimit,
    Refusal, RefusalKind, Report,
};
use eventsmith::event::NewEvent;
use eventsmith::process::SagaRunner;
use eventsmith::store::{Append, EventLog as _, ExpectedVersion};
use eventsmith::{App, Command, CommandContext, CommandError, Event, SqliteStore, aggregate};
use serde::{Deserialize, Serialize};

use crate::sagas::domain::{AddStock, Fulfilment, Inventory, PlaceOrder};

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "pipeline.posted")]
struct Posted {
    amount: u64,
}

/// Posts an amount to a ledger; it must be positive and at most a million.
#[derive(Debug, Clone, Command)]
struct Post {
    #[command(id)]
    ledger: String,
    amount: u64,
}

/// What the validation finds wrong, converted into the ledger's error.
#[derive(Debug, PartialEq)]
struct BadAmount(u64);

impl Post {
    fn check(&self) -> Result<(), BadAmount> {
        if self.amount == 0 || self.amount > 1_000_000 {
            return Err(BadAmount(self.amount));
        }
        assert_ne!(self.amount, 666, "a validation that panics");
        Ok(())
    }
}

#[derive(Debug, PartialEq)]
enum LedgerError {
    BadAmount(u64),
}

impl From<BadAmount> for LedgerError {
    fn from(BadAmount(amount): BadAmount) -> Self {
        Self::BadAmount(amount)
    }
}

#[derive(Default)]
struct Ledger {
    total: u64,
}

#[aggregate(name = "PipelineLedger")]
impl Ledger {
    #[handle(validate = Post::check)]
    fn post(&self, command: Post) -> Result<Posted, LedgerError> {
        Ok(Posted {
            amount: command.amount,
        })
    }

    #[apply]
    fn posted(&mut self, event: &Posted) {
        self.total += event.amount;
    }
}

fn post(ledger: &str, amount: u64) -> Post {
    Post {
        ledger: ledger.into(),
        amount,
    }
}

fn sqlite() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("pipeline.db")).unwrap();
    (dir, store)
}

/// A command its validation refuses is rejected with the handler's error type, and nothing
/// was read: on a stream whose stored event does not decode, the invalid command answers its
/// rejection while a valid one meets the decoding error. A panicking validation is a typed
/// error, not a crash.
#[tokio::test]
async fn validation_refuses_a_command_before_anything_loads() {
    let (_dir, store) = sqlite();
    let app = App::new(store.clone()).unwrap();
    app.execute(post("good", 5)).await.unwrap();
    let err = app.execute(post("good", 0)).await.unwrap_err();
    assert!(
        matches!(err.rejection(), Some(LedgerError::BadAmount(0))),
        "{err:?}"
    );

    let garbage = NewEvent::new(
        "pipeline.posted",
        1,
        br#"{"amount":"lots"}"#.to_vec(),
        Arc::default(),
    );
    store
        .append(Append::new(
            "PipelineLedger-broken",
            ExpectedVersion::NoStream,
            vec![garbage],
        ))
        .await
        .unwrap();
    let refused = app.execute(post("broken", 2_000_000)).await.unwrap_err();
    assert!(
        matches!(
            refused,
            CommandError::Rejected(LedgerError::BadAmount(2_000_000))
        ),
        "{refused:?}"
    );
    let loaded = app.execute(post("broken", 1)).await.unwrap_err();
    assert!(matches!(loaded, CommandError::Decode(_)), "{loaded:?}");

    let panicked = app.execute(post("good", 666)).await.unwrap_err();
    assert!(
        matches!(&panicked, CommandError::Panicked { during, .. } if during.contains("validation")),
        "{panicked:?}"
    );
    let (ledger, version) = app.load::<Ledger>("good").await.unwrap();
    assert_eq!((ledger.total, version), (5, 1));
}

/// Records what it sees into a shared journal, and refuses the commands to the ledger it is
/// told to.
struct Recorder {
    name: &'static str,
    journal: Arc<Mutex<Vec<String>>>,
    refuse_ledger: Option<&'static str>,
}

impl CommandMiddleware for Recorder {
    async fn before<C: HandledCommand>(
        &self,
        command: &C,
        context: &mut CommandContext,
    ) -> Result<(), Refusal> {
        let id = command.aggregate_id();
        self.journal
            .lock()
            .unwrap()
            .push(format!("{} before {} {id}", self.name, C::NAME));
        context
            .headers
            .entry("seen-by".into())
            .or_default()
            .push_str(self.name);
        if self.refuse_ledger == Some(&*id) {
            return Err(Refusal::invalid(format!("{} refuses {id}", self.name)));
        }
        Ok(())
    }

    fn after<C: HandledCommand>(&self, report: &Report<'_, C>) {
        let outcome = match report.outcome {
            Ok(done) => format!("version {}", done.version),
            Err(CommandError::Refused { refusal, .. }) => format!("refused: {refusal}"),
            Err(other) => format!("failed: {other}"),
        };
        self.journal.lock().unwrap().push(format!(
            "{} after {} {}: {outcome}",
            self.name,
            C::NAME,
            report.info().aggregate_id
        ));
    }
}

/// Middleware added first runs outermost: its `before` first, its `after` last, around every
/// command, refused ones included; a refusal stops the inner middleware's `before` and the
/// execution, appends nothing and is a typed error; what `before` writes into the context is
/// stored on the events.
#[tokio::test]
async fn middleware_runs_in_order_around_every_command() {
    let (_dir, store) = sqlite();
    let journal = Arc::new(Mutex::new(Vec::new()));
    let recorder = |name, refuse_ledger| Recorder {
        name,
        journal: Arc::clone(&journal),
        refuse_ledger,
    };
    let app = App::builder(store.clone())
        .middleware(Logging)
        .middleware(recorder("outer", Some("closed")))
        .middleware(recorder("inner", None))
        .build()
        .unwrap();

    let done = app.execute(post("open", 3)).await.unwrap();
    let refused = app.execute(post("closed", 3)).await.unwrap_err();
    assert!(
        matches!(
            &refused,
            CommandError::Refused { command: "Post", refusal } if refusal.kind == RefusalKind::Invalid
        ),
        "{refused:?}"
    );
    assert!(!refused.is_retriable());
    assert_eq!(
        *journal.lock().unwrap(),
        [
            "outer before Post open",
            "inner before Post open",
            "inner after Post open: version 1",
            "outer after Post open: version 1",
            "outer before Post closed",
            "inner after Post closed: refused: outer refuses closed",
            "outer after Post closed: refused: outer refuses closed",
        ]
    );
    assert_eq!(app.load::<Ledger>("closed").await.unwrap().1, 0);
    let stored = store.read_all(1, 10).await.unwrap().events;
    assert_eq!(stored.len(), 1);
    assert_eq!(Some(stored[0].global_position), done.position);
    assert_eq!(stored[0].metadata.headers["seen-by"], "outerinner");
}

/// Authorization decides on the actor and tenant of the context; enrichment stamps every
/// command's events; both work from the command's names.
#[tokio::test]
async fn authorization_and_enrichment_work_from_the_context() {
    let (_dir, store) = sqlite();
    let rules = Authorize::new(|command: &CommandInfo<'_>, context: &CommandContext| {
        let Some(tenant) = &context.tenant else {
            return Err(format!("{} needs a tenant", command.name));
        };
        let clerk = context
            .actor
            .as_deref()
            .is_some_and(|a| a.starts_with("clerk:"));
        if command.aggregate == "PipelineLedger" && !clerk {
            return Err(format!("{:?} may not post in {tenant}", context.actor));
        }
        Ok(())
    });
    let stamp = Enrich::new(|command: &CommandInfo<'_>, context: &mut CommandContext| {
        context
            .headers
            .insert("ledger".into(), command.aggregate_id.clone().into_owned());
    });
    let app = App::builder(store.clone())
        .middleware(rules)
        .middleware(stamp)
        .build()
        .unwrap();

    let anonymous = app.execute(post("l1", 1)).await.unwrap_err();
    let stranger = CommandContext::new().tenant("acme").actor("visitor:9");
    let intruder = app
        .execute_with(post("l1", 1), &stranger)
        .await
        .unwrap_err();
    for (err, reason) in [
        (&anonymous, "Post needs a tenant"),
        (&intruder, "Some(\"visitor:9\") may not post in acme"),
    ] {
        assert!(
            matches!(err, CommandError::Refused { refusal, .. }
                if refusal.kind == RefusalKind::Unauthorized && refusal.reason == reason),
            "{err:?}"
        );
    }
    let clerk = CommandContext::new().tenant("acme").actor("clerk:7");
    app.execute_with(post("l1", 4), &clerk).await.unwrap();

    let stored = store.read_all(1, 10).await.unwrap().events;
    assert_eq!(stored.len(), 1, "refused commands append nothing");
    let metadata = &stored[0].metadata;
    assert_eq!(metadata.actor.as_deref(), Some("clerk:7"));
    assert_eq!(metadata.tenant.as_deref(), Some("acme"));
    assert_eq!(metadata.headers["ledger"], "l1");
}

/// A rate limit counts each tenant apart and refuses the command over the quota with the time
/// until it would pass (a retriable error); one that may wait holds the command back instead.
#[tokio::test]
async fn rate_limits_refuse_or_hold_back_commands_over_the_quota() {
    let (_dir, store) = sqlite();
    let two = NonZeroU32::new(2).unwrap();
    let app = App::builder(store.clone())
        .middleware(RateLimit::per_minute(two).keyed_by(RateKey::Tenant))
        .build()
        .unwrap();
    let acme = CommandContext::new().tenant("acme");
    for amount in 1..=2 {
        app.execute_with(post("acme", amount), &acme).await.unwrap();
    }
    let limited = app.execute_with(post("acme", 3), &acme).await.unwrap_err();
    let CommandError::Refused { refusal, .. } = &limited else {
        panic!("{limited:?}");
    };
    let RefusalKind::RateLimited { retry_after } = refusal.kind else {
        panic!("{refusal:?}");
    };
    assert!(
        retry_after > Duration::ZERO && retry_after <= Duration::from_secs(30),
        "a token comes back every 30 s: {retry_after:?}"
    );
    assert!(limited.is_retriable());
    assert!(limited.to_string().contains("rate limited"), "{limited}");
    let globex = CommandContext::new().tenant("globex");
    app.execute_with(post("globex", 1), &globex).await.unwrap();
    assert_eq!(app.load::<Ledger>("acme").await.unwrap().1, 2);

    // Twenty a second, one at a time, waiting up to a second: a burst of five all pass.
    let patient = App::builder(store)
        .middleware(
            RateLimit::per_second(NonZeroU32::new(20).unwrap())
                .burst(NonZeroU32::MIN)
                .wait_at_most(Duration::from_secs(1)),
        )
        .build()
        .unwrap();
    for amount in 1..=5 {
        patient.execute(post("patient", amount)).await.unwrap();
    }
    assert_eq!(patient.load::<Ledger>("patient").await.unwrap().1, 5);
}

/// The commands a saga sends pass through the application's middleware: the saga's source is
/// in the context the middleware sees, and what it adds is on the events the commands append.
#[tokio::test]
async fn a_sagas_commands_pass_through_the_middleware() {
    let (_dir, store) = sqlite();
    let sources = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&sources);
    let stamp = Enrich::new(
        move |command: &CommandInfo<'_>, context: &mut CommandContext| {
            seen.lock()
                .unwrap()
                .push((command.name, context.source.clone()));
            context.headers.insert("via".into(), "pipeline".into());
        },
    );
    let app = App::builder(store.clone())
        .middleware(stamp)
        .build()
        .unwrap();
    app.execute(AddStock {
        item: "kettle".into(),
        quantity: 5,
    })
    .await
    .unwrap();
    let placed = app
        .execute(PlaceOrder {
            order: "pipeline-1".into(),
            item: "kettle".into(),
            quantity: 2,
            amount: 30,
        })
        .await
        .unwrap();
    let saga = SagaRunner::<_, Fulfilment, _>::new(store.clone(), app.clone())
        .poll_interval(Duration::from_millis(20))
        .start()
        .await
        .unwrap();
    saga.wait_for(placed.position.unwrap(), Duration::from_secs(20))
        .await
        .unwrap();
    let give_up = tokio::time::Instant::now() + Duration::from_secs(20);
    while app.load::<Inventory>("kettle").await.unwrap().0.reserved != 2 {
        assert!(
            tokio::time::Instant::now() < give_up,
            "the stock was never reserved"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    saga.stop().await.unwrap();

    let seen = sources.lock().unwrap().clone();
    assert!(
        seen.contains(&("ReserveStock", Some("saga shop.fulfilment".to_owned()))),
        "{seen:?}"
    );
    let reserved = store
        .read_all(1, 100)
        .await
        .unwrap()
        .events
        .into_iter()
        .find(|e| &*e.event_type == "shop.stock_reserved")
        .expect("the saga's reservation");
    assert_eq!(reserved.metadata.headers["via"], "pipeline");
    assert_eq!(
        reserved.metadata.source.as_deref(),
        Some("saga shop.fulfilment")
    );
}
