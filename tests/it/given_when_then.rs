//! The given/when/then helper on the bank aggregate: no store involved.

use eventsmith::testing::AggregateTest;
use eventsmith_test_bank::*;

#[tokio::test]
async fn events_errors_and_state_are_asserted() {
    AggregateTest::<BankAccount>::new()
        .given(AccountOpened {
            owner: "ann".into(),
        })
        .given(MoneyDeposited { amount: 10 })
        .when(Withdraw {
            account: "a".into(),
            amount: 4,
        })
        .await
        .then_events([MoneyWithdrawn { amount: 4 }])
        .then_state(|account| assert_eq!(account.balance, 6));

    AggregateTest::<BankAccount>::new()
        .when(deposit("a", 1))
        .await
        .then_error(BankError::NotOpen);

    AggregateTest::<BankAccount>::new()
        .given_all([
            BankAccountEvent::from(AccountOpened {
                owner: "ann".into(),
            }),
            MoneyDeposited { amount: 3 }.into(),
        ])
        .when(Withdraw {
            account: "a".into(),
            amount: 4,
        })
        .await
        .then_error_matches(|e| matches!(e, BankError::InsufficientFunds { balance: 3, .. }));
}

#[tokio::test]
async fn several_events_of_different_types_in_order() {
    let then = AggregateTest::<BankAccount>::new()
        .given(AccountOpened {
            owner: "ann".into(),
        })
        .when(DepositAndFlag {
            account: "a".into(),
            amount: 50,
        })
        .await
        .then_events([
            BankAccountEvent::from(MoneyDeposited { amount: 50 }),
            AccountFlagged {
                reason: "large deposit of 50".into(),
            }
            .into(),
        ])
        .then_state(|a| assert_eq!((a.balance, a.flags.len()), (50, 1)));
    assert_eq!(then.events().len(), 2);
}

#[tokio::test]
async fn no_events_and_panics() {
    AggregateTest::<BankAccount>::new()
        .when(Audit {
            account: "a".into(),
            request_id: None,
        })
        .await
        .then_no_events();
    AggregateTest::<BankAccount>::new()
        .when(Explode {
            account: "z".into(),
        })
        .await
        .then_panics("handler exploded for z");
}

#[tokio::test]
#[should_panic(expected = "the handler decided other events")]
async fn a_wrong_expectation_fails_the_test() {
    AggregateTest::<BankAccount>::new()
        .given(AccountOpened {
            owner: "ann".into(),
        })
        .when(deposit("a", 5))
        .await
        .then_events([MoneyDeposited { amount: 6 }]);
}

#[tokio::test]
#[should_panic(expected = "expected an error, but the handler decided")]
async fn expecting_an_error_from_a_success_fails_the_test() {
    AggregateTest::<BankAccount>::new()
        .given(AccountOpened {
            owner: "ann".into(),
        })
        .when(deposit("a", 5))
        .await
        .then_error(BankError::NotOpen);
}
