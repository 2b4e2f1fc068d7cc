from django.db import migrations


class Migration(migrations.Migration):
    """The keyword lists and the opt-out reviews now belong to the conversation app.

    State only: the tables stay as they are, under their names; conversation.0001 takes
    them over.
    """

    dependencies = [
        ("consent", "0012_sealed_heads_without_a_foreign_key_constraint"),
        ("conversation", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="ConsentKeyword"),
                migrations.DeleteModel(name="OptOutReview"),
            ],
            database_operations=[],
        ),
    ]
