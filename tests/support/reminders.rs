//! The reminders domain of the deadline crash test: a plan sets [`SOON`] reminders that fire
//! within seconds and [`LATE`] ones due in an hour, which the plan's cancellation removes. A
//! fired reminder is recorded as an event, every time: a reminder that fired twice shows.
//! Shared by the crash test and the saga process it kills.

use std::time::Duration;

use eventsmith::process::Steps;
use eventsmith::{Command, Event, aggregate, saga};
use serde::{Deserialize, Serialize};

/// Reminders of each plan that fire.
pub(crate) const SOON: u32 = 7;
/// Reminders of each plan that are cancelled before they are due.
pub(crate) const LATE: u32 = 3;

/// When reminder `index` of plan number `plan` is due, after the plan is scheduled: spread
/// over three to nine seconds, so that deadlines are due while the saga is being killed.
pub(crate) fn due_after(plan: u32, index: u32) -> Duration {
    Duration::from_millis(3_000 + u64::from((plan * 7 + index * 613) % 6_000))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "crash.reminders_planned")]
pub(crate) struct RemindersPlanned {
    pub(crate) plan: String,
    pub(crate) number: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "crash.late_reminders_cancelled")]
pub(crate) struct LateRemindersCancelled {
    pub(crate) plan: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "crash.reminded")]
pub(crate) struct Reminded {
    pub(crate) plan: String,
    pub(crate) index: u32,
    pub(crate) late: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, Command)]
pub(crate) struct PlanReminders {
    #[command(id)]
    pub(crate) plan: String,
    pub(crate) number: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, Command)]
pub(crate) struct CancelLateReminders {
    #[command(id)]
    pub(crate) plan: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Command)]
pub(crate) struct Remind {
    #[command(id)]
    pub(crate) plan: String,
    pub(crate) index: u32,
    pub(crate) late: bool,
}

/// A plan's record of its reminders. It accepts every reminder, repeats included.
#[derive(Debug, Default)]
pub(crate) struct ReminderPlan {
    pub(crate) reminded: Vec<u32>,
}

#[aggregate(name = "CrashReminderPlan")]
impl ReminderPlan {
    #[handle]
    fn plan(&self, cmd: PlanReminders) -> RemindersPlanned {
        RemindersPlanned {
            plan: cmd.plan,
            number: cmd.number,
        }
    }

    #[handle]
    fn cancel_late(&self, cmd: CancelLateReminders) -> LateRemindersCancelled {
        LateRemindersCancelled { plan: cmd.plan }
    }

    #[handle]
    fn remind(&self, cmd: Remind) -> Reminded {
        Reminded {
            plan: cmd.plan,
            index: cmd.index,
            late: cmd.late,
        }
    }

    #[apply]
    fn planned(&mut self, _event: &RemindersPlanned) {}

    #[apply]
    fn cancelled(&mut self, _event: &LateRemindersCancelled) {}

    #[apply]
    fn reminded(&mut self, event: &Reminded) {
        self.reminded.push(event.index);
    }
}

/// A reminder due within seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SoonReminder {
    pub(crate) index: u32,
}

/// A reminder due in an hour, cancelled before then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LateReminder {
    pub(crate) index: u32,
}

/// One plan. It never ends, so that its deadlines are gone only by firing or cancelling.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Reminders {
    pub(crate) plan: String,
}

impl Reminders {
    fn remind(&self, index: u32, late: bool) -> Remind {
        Remind {
            plan: self.plan.clone(),
            index,
            late,
        }
    }
}

#[saga(name = "crash.reminders")]
impl Reminders {
    #[start(key = plan)]
    fn planned(&mut self, event: &RemindersPlanned, steps: &mut Steps<Self>) {
        self.plan = event.plan.clone();
        for index in 0..SOON {
            steps.schedule(due_after(event.number, index), SoonReminder { index });
        }
        for index in SOON..SOON + LATE {
            steps.schedule(Duration::from_secs(3_600), LateReminder { index });
        }
    }

    #[on(key = plan)]
    fn late_cancelled(&mut self, _event: &LateRemindersCancelled, steps: &mut Steps<Self>) {
        steps.cancel::<LateReminder>();
    }

    #[deadline]
    fn soon(&mut self, deadline: &SoonReminder) -> Remind {
        self.remind(deadline.index, false)
    }

    #[deadline]
    fn late(&mut self, deadline: &LateReminder) -> Remind {
        self.remind(deadline.index, true)
    }
}
