-- Each counter knows its window, so one statement can count events against limits with
-- different windows (the window's length travels in the proposed row).
ALTER TABLE rate_limits ADD COLUMN window_seconds INTEGER NOT NULL DEFAULT 0;
