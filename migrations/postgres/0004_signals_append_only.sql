-- Signals are written only together with their verdict, in the same
-- statement, and never changed: the primary key on (verdict_id, criterion)
-- and the foreign key to verdicts guarded nothing the write path does not
-- already guarantee, yet cost every qualification 21 index inserts and 21
-- referential-integrity checks. The analytics index stays. Reads take a
-- verdict's signals from the verdict's own signals_json; a join from
-- signals to verdicts uses the verdicts' key.
ALTER TABLE signals
    DROP CONSTRAINT signals_verdict_id_fkey,
    DROP CONSTRAINT signals_pkey;
